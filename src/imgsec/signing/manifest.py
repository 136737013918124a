"""The OCI objects cosign stores signatures and attestations in.

One OCI image manifest per signed image, at tag ``sha256-<hex>.sig`` (``.att`` for attestations), one
layer per signature: the payload is the layer blob, the base64 signature is the layer annotation
``dev.cosignproject.cosign/signature``.  The manifest and its config are what go-containerregistry's
``mutate.Append`` on ``empty.Image`` produces, which is how cosign builds them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imgsec.errors import InputError
from imgsec.image.model import OCI_CONFIG, OCI_MANIFEST, sha256_digest
from imgsec.reference import validate_digest
from imgsec.signing.payload import go_json, parse_json

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
PREDICATE_TYPE_ANNOTATION = "predicateType"

#: artifactType of cosign signature manifests found through the OCI 1.1 referrers API.
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
#: The OCI 1.1 empty config (``{}``) that artifact manifests use.
OCI_EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_CONFIG = b"{}"

SIGNATURE_SUFFIX = "sig"
ATTESTATION_SUFFIX = "att"
#: A signature manifest with more layers than this is refused (cosign caps at 1000 too).
MAX_LAYERS = 1000
#: Largest signature payload / attestation envelope we read.
MAX_PAYLOAD_SIZE = 4 * 1024 * 1024
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(digest: str, suffix: str) -> str:
    """``sha256:abc...`` -> ``sha256-abc....sig`` (cosign's tag-based discovery)."""
    algo, _, hex_ = validate_digest(digest).partition(":")
    return f"{algo}-{hex_}.{suffix}"


@dataclass(frozen=True)
class SignatureLayer:
    """One layer of a signature manifest: its descriptor fields and (once fetched) its payload."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def signature_b64(self) -> str | None:
        return self.annotations.get(SIGNATURE_ANNOTATION)

    def descriptor(self) -> dict[str, Any]:
        """The descriptor as go-containerregistry writes it (mediaType, size, digest, annotations)."""
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.annotations:
            out["annotations"] = {k: self.annotations[k] for k in sorted(self.annotations)}
        return out


def new_layer(payload: bytes, media_type: str, annotations: Mapping[str, str]) -> SignatureLayer:
    return SignatureLayer(media_type, sha256_digest(payload), len(payload), dict(annotations))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_config(layers: Sequence[SignatureLayer], created: str | None = None) -> bytes:
    """The config blob: go-containerregistry's empty config with one diff_id and history entry per layer.

    The payload layers are uncompressed, so each diff_id is the layer digest.  cosign stamps
    ``created`` with the signing time.
    """
    doc = {
        "architecture": "",
        "created": created or _now(),
        "history": [{"created": _ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    return go_json(doc).encode("utf-8")


def build_manifest(layers: Sequence[SignatureLayer], config: bytes) -> bytes:
    """The OCI image manifest holding ``layers`` (schemaVersion, mediaType, config, layers)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)},
        "layers": [layer.descriptor() for layer in layers],
    }
    return go_json(doc).encode("utf-8")


def build_referrer_manifest(
    layers: Sequence[SignatureLayer], subject: Mapping[str, Any], artifact_type: str
) -> bytes:
    """An OCI 1.1 artifact manifest for ``layers`` whose ``subject`` is the signed image's descriptor."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": OCI_EMPTY_MEDIA_TYPE,
            "size": len(OCI_EMPTY_CONFIG),
            "digest": sha256_digest(OCI_EMPTY_CONFIG),
        },
        "layers": [layer.descriptor() for layer in layers],
        "subject": dict(subject),
    }
    return go_json(doc).encode("utf-8")


def manifest_subject(data: bytes, what: str) -> str | None:
    """The ``subject`` digest a manifest names, or None."""
    doc = parse_json(data, what)
    subject = doc.get("subject") if isinstance(doc, dict) else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def parse_signature_manifest(data: bytes, what: str) -> list[SignatureLayer]:
    """The layers of a signature/attestation manifest; InputError when it is not one."""
    doc = parse_json(data, what)
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise InputError(f"{what}: not an image manifest (schemaVersion 2)")
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raise InputError(f"{what}: the manifest has no 'layers' list")
    if len(raw_layers) > MAX_LAYERS:
        raise InputError(f"{what}: {len(raw_layers)} layers; refusing more than {MAX_LAYERS}")
    layers: list[SignatureLayer] = []
    for i, raw in enumerate(raw_layers):
        if not isinstance(raw, dict):
            raise InputError(f"{what}: layer {i} is not a descriptor object")
        media_type, digest, size = raw.get("mediaType"), raw.get("digest"), raw.get("size")
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise InputError(f"{what}: layer {i} lacks mediaType or digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"{what}: layer {i} has an invalid size")
        try:
            validate_digest(digest)
        except InputError as exc:
            raise InputError(f"{what}: layer {i}: {exc}") from exc
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise InputError(f"{what}: layer {i} annotations must map strings to strings")
        layers.append(SignatureLayer(media_type, digest, size, dict(annotations)))
    return layers
