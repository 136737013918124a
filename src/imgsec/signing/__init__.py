"""cosign-compatible keys, signatures and attestations.

- :mod:`imgsec.signing.keys`: key pairs in cosign's encrypted format, public keys, sign/verify primitives.
- :mod:`imgsec.signing.payload`: the simple-signing payload, DSSE envelopes, in-toto statements.
- :mod:`imgsec.signing.manifest`: the OCI manifests cosign stores at ``sha256-<hex>.sig`` / ``.att``.
- :mod:`imgsec.signing.store_oci`: signatures in an OCI image layout directory (offline).
- :mod:`imgsec.signing.sign` and :mod:`imgsec.signing.verify`: the two halves of the workflow.
"""
