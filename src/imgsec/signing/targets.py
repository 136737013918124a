"""From the IMAGE argument to a resolved :class:`Target` and the store its signatures live in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from imgsec.errors import UsageError
from imgsec.image.sources import RegistryOptions, registry_reference
from imgsec.reference import parse_reference
from imgsec.signing.store import SignatureStore, Target


@dataclass(frozen=True)
class Resolved:
    target: Target
    store: SignatureStore


@contextmanager
def open_target(
    spec: str,
    *,
    registry: RegistryOptions | None = None,
    signature_repo: str | None = None,
) -> Iterator[Resolved]:
    """Resolve ``spec`` (a registry reference or ``oci:DIR[:tag|@digest]``) and open its signature store.

    ``signature_repo`` (cosign's ``COSIGN_REPOSITORY``) keeps signatures in another repository of a
    registry; it does not apply to OCI layouts.
    """
    if spec.startswith("oci:"):
        from imgsec.signing.store_oci import OCILayoutStore, parse_oci_argument

        if signature_repo:
            raise UsageError("--signature-repo applies to registry images, not oci: layouts")
        path, oci_ref = parse_oci_argument(spec)
        store = OCILayoutStore(path)
        yield Resolved(store.resolve(oci_ref, spec), store)
        return
    if spec.startswith(("oci-archive:", "docker-archive:", "dir:")):
        raise UsageError(
            f"{spec.split(':', 1)[0]}: cannot hold signatures; sign the image in a registry or an oci: layout"
        )
    ref = registry_reference(spec)
    assert ref is not None
    from imgsec.signing.store_registry import RegistryStore, resolve_registry_target

    client = (registry or RegistryOptions()).client(ref)
    try:
        target = resolve_registry_target(client, ref)
        sig_ref = parse_reference(signature_repo, default_tag=False) if signature_repo else ref
        yield Resolved(target, RegistryStore(client, sig_ref))
    finally:
        client.close()
