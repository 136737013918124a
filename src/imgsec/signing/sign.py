"""Sign and attest: build the payload, sign it, attach it as one more layer of the cosign manifest."""

from __future__ import annotations

import base64
import datetime as _dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from imgsec.errors import InputError, UsageError
from imgsec.image.model import OCI_MANIFEST
from imgsec.signing.keys import Signer
from imgsec.signing.manifest import (
    ATTESTATION_SUFFIX,
    DSSE_MEDIA_TYPE,
    MAX_PAYLOAD_SIZE,
    OCI_EMPTY_CONFIG,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIGNATURE_ARTIFACT_TYPE,
    SIGNATURE_SUFFIX,
    SIMPLESIGNING_MEDIA_TYPE,
    SignatureLayer,
    build_config,
    build_manifest,
    build_referrer_manifest,
    manifest_subject,
    new_layer,
    parse_signature_manifest,
    signature_tag,
)
from imgsec.signing.payload import (
    INTOTO_PAYLOAD_TYPE,
    MAX_ATTESTATION_SIZE,
    Envelope,
    EnvelopeSignature,
    build_predicate,
    build_statement,
    decode_b64,
    pae,
    parse_envelope,
    resolve_predicate_type,
    simple_signing_payload,
)
from imgsec.signing.store import SignatureStore, Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttachResult:
    """What signing or attesting did: where the object lives and whether a new layer was added."""

    location: str
    manifest_digest: str | None
    layer_digest: str
    payload: bytes
    added: bool


def _attach(
    store: SignatureStore,
    tag: str,
    payload: bytes,
    layer: SignatureLayer,
    is_duplicate: Callable[[SignatureLayer, bytes], bool],
) -> AttachResult:
    location = store.describe(tag)
    max_size = MAX_ATTESTATION_SIZE if layer.media_type == DSSE_MEDIA_TYPE else MAX_PAYLOAD_SIZE
    existing_bytes = store.get_manifest(tag)
    layers: list[SignatureLayer] = []
    if existing_bytes is not None:
        layers = parse_signature_manifest(existing_bytes, location)
        for old in layers:
            if old.media_type != layer.media_type:
                continue
            try:
                old_payload = store.get_blob(old.digest, old.size, max_size)
            except InputError as exc:
                log.warning("%s: ignoring unreadable layer %s: %s", location, old.digest, exc)
                continue
            if is_duplicate(old, old_payload):
                log.info("%s: an identical signature is already attached; nothing to do", location)
                return AttachResult(location, None, old.digest, old_payload, added=False)
    layers.append(layer)
    config = build_config(layers)
    store.put_blob(payload)
    store.put_blob(config)
    manifest = build_manifest(layers, config)
    digest = store.put_manifest(manifest, OCI_MANIFEST, tag)
    return AttachResult(location, digest, layer.digest, payload, added=True)


def _attach_referrer(
    store: SignatureStore,
    target: Target,
    payload: bytes,
    layer: SignatureLayer,
    is_duplicate: Callable[[SignatureLayer, bytes], bool],
) -> AttachResult:
    existing = store.referrers(target.digest, SIGNATURE_ARTIFACT_TYPE)
    if existing is None:
        raise UsageError(
            f"{target.display}: the registry has no OCI 1.1 referrers API; sign without --referrers "
            "(signatures then go to the sha256-<hex>.sig tag)"
        )
    for location, data in existing:
        if manifest_subject(data, location) != target.digest:
            continue
        for old in parse_signature_manifest(data, location):
            if old.media_type != layer.media_type:
                continue
            try:
                old_payload = store.get_blob(old.digest, old.size, MAX_PAYLOAD_SIZE)
            except InputError:
                continue
            if is_duplicate(old, old_payload):
                return AttachResult(location, None, old.digest, old_payload, added=False)
    if not target.media_type or target.size <= 0:
        raise InputError(
            f"{target.display}: unknown media type or size; cannot name it as a referrer subject"
        )
    subject = {"mediaType": target.media_type, "size": target.size, "digest": target.digest}
    store.put_blob(payload)
    store.put_blob(OCI_EMPTY_CONFIG)
    data = build_referrer_manifest([layer], subject, SIGNATURE_ARTIFACT_TYPE)
    digest = store.put_referrer(data, OCI_MANIFEST, SIGNATURE_ARTIFACT_TYPE)
    return AttachResult(f"{target.display} referrer {digest}", digest, layer.digest, payload, added=True)


def sign_image(
    store: SignatureStore,
    target: Target,
    signer: Signer,
    *,
    identity: str,
    annotations: Mapping[str, str] | None = None,
    referrers: bool = False,
) -> AttachResult:
    """Sign ``target`` as ``cosign sign --key`` does and attach the signature at ``sha256-<hex>.sig``.

    Signing the same payload again with the same key leaves the manifest alone (cosign's dupe detector).
    With ``referrers`` the signature becomes its own OCI 1.1 artifact manifest whose ``subject`` is
    the image (cosign's ``--registry-referrers-mode=oci-1-1``), found through the referrers API.
    """
    payload = simple_signing_payload(identity, target.digest, annotations)
    signature = signer.sign(payload)
    layer = new_layer(payload, SIMPLESIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: _b64(signature)})
    verifier = signer.verifier

    def duplicate(old: SignatureLayer, old_payload: bytes) -> bool:
        if old_payload != payload or old.signature_b64 is None:
            return False
        try:
            return verifier.verify(decode_b64(old.signature_b64, "signature"), old_payload)
        except InputError:
            return False

    if referrers:
        return _attach_referrer(store, target, payload, layer, duplicate)
    return _attach(store, signature_tag(target.digest, SIGNATURE_SUFFIX), payload, layer, duplicate)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dsse_sign(signer: Signer, payload_type: str, payload: bytes) -> Envelope:
    """A DSSE envelope with one signature over ``pae(payload_type, payload)`` (keyid empty, as cosign)."""
    return Envelope(payload_type, payload, (EnvelopeSignature("", signer.sign(pae(payload_type, payload))),))


def attest_image(
    store: SignatureStore,
    target: Target,
    signer: Signer,
    *,
    subject_name: str,
    predicate: bytes,
    type_name: str,
) -> AttachResult:
    """``cosign attest --key --type``: an in-toto statement in a DSSE envelope at ``sha256-<hex>.att``."""
    predicate_type = resolve_predicate_type(type_name)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = build_statement(
        subject_name, target.digest, predicate_type, build_predicate(predicate, type_name, stamp)
    )
    envelope = dsse_sign(signer, INTOTO_PAYLOAD_TYPE, statement).to_json()
    layer = new_layer(
        envelope,
        DSSE_MEDIA_TYPE,
        # cosign writes an empty signature annotation on attestation layers: the signature is inside.
        {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type},
    )
    verifier = signer.verifier

    def duplicate(old: SignatureLayer, old_payload: bytes) -> bool:
        try:
            env = parse_envelope(old_payload)
        except InputError:
            return False
        if env.payload != statement or env.payload_type != INTOTO_PAYLOAD_TYPE:
            return False
        return any(verifier.verify(s.sig, pae(env.payload_type, env.payload)) for s in env.signatures)

    return _attach(store, signature_tag(target.digest, ATTESTATION_SUFFIX), envelope, layer, duplicate)
