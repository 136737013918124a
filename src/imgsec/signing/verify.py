"""Verify cosign signatures and attestations with public keys, saying why each candidate failed.

A signature counts only when, in this order: its layer is a simple-signing payload; the base64
signature annotation decodes; it verifies over the exact payload bytes with one of the given keys;
the payload type is cosign's; the signed digest is the image's resolved digest; the docker-reference
names the expected repository (unless that check is off); the payload annotations hold every
``-a key=value`` constraint.  Nothing in a payload is trusted before its signature verifies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgsec.errors import InputError, VerificationError
from imgsec.signing.keyless import KeylessError, KeylessPolicy, verify_keyless
from imgsec.signing.keys import Verifier
from imgsec.signing.manifest import (
    ATTESTATION_SUFFIX,
    DSSE_MEDIA_TYPE,
    MAX_PAYLOAD_SIZE,
    SIGNATURE_ARTIFACT_TYPE,
    SIGNATURE_SUFFIX,
    SIMPLESIGNING_MEDIA_TYPE,
    SignatureLayer,
    manifest_subject,
    parse_signature_manifest,
    signature_tag,
)
from imgsec.signing.payload import (
    COSIGN_SIGNATURE_TYPE,
    INTOTO_PAYLOAD_TYPE,
    MAX_ATTESTATION_SIZE,
    STATEMENT_TYPES,
    SimpleSigning,
    Statement,
    decode_b64,
    pae,
    parse_envelope,
    parse_simple_signing,
    parse_statement,
    same_repository,
)
from imgsec.signing.store import SignatureStore, Target


@dataclass(frozen=True)
class VerifiedSignature:
    payload: SimpleSigning
    payload_bytes: bytes
    key: str
    layer_digest: str


@dataclass(frozen=True)
class VerifiedAttestation:
    statement: Statement
    key: str
    layer_digest: str


class _Rejected(Exception):
    """One candidate failed; the message is the reason shown to the user."""


def _layers(
    store: SignatureStore, target: Target, suffix: str, what: str, artifact_type: str | None = None
) -> tuple[str, list[SignatureLayer]]:
    """Candidate layers: the cosign tag's manifest, plus OCI 1.1 referrers where the store has them."""
    tag = signature_tag(target.digest, suffix)
    location = store.describe(tag)
    layers: list[SignatureLayer] = []
    data = store.get_manifest(tag)
    if data is not None:
        layers.extend(parse_signature_manifest(data, location))
    places = [location] if data is not None else []
    found = store.referrers(target.digest, artifact_type) if artifact_type else None
    for ref_location, ref_data in found or []:
        # The referrers API is an index the registry keeps; trust only the manifest's own subject.
        if manifest_subject(ref_data, ref_location) == target.digest:
            layers.extend(parse_signature_manifest(ref_data, ref_location))
            places.append(ref_location)
    if not layers:
        where = f"{location} does not exist" if data is None else f"{location} has no layers"
        if found is not None:
            where += " and the referrers API lists none"
        raise VerificationError(f"no {what} found for {target.display} ({target.digest}): {where}")
    return ", ".join(places), layers


def _fail(target: Target, what: str, location: str, reasons: list[str]) -> VerificationError:
    detail = "; ".join(reasons)
    return VerificationError(
        f"no valid {what} for {target.display} ({target.digest}) in {location}: {detail}"
    )


def _authenticate(
    layer: SignatureLayer,
    payload: bytes,
    signature: bytes,
    verifiers: Sequence[Verifier],
    keyless: KeylessPolicy | None,
) -> str:
    """Who signed: a given public key, or a keyless certificate the policy accepts; else _Rejected."""
    reasons: list[str] = []
    if verifiers:
        key = next((v for v in verifiers if v.verify(signature, payload)), None)
        if key is not None:
            return key.source
        reasons.append("the signature does not verify with any of the given keys")
    if keyless is not None:
        try:
            result = verify_keyless(layer.annotations, payload, signature, keyless)
        except KeylessError as exc:
            reasons.append(f"keyless: {exc}")
        else:
            return f"{result.identity} ({result.issuer}, Rekor #{result.log_index} at {result.signed_at.isoformat()})"
    raise _Rejected("; ".join(reasons))


def _check_signature_layer(
    store: SignatureStore,
    target: Target,
    layer: SignatureLayer,
    verifiers: Sequence[Verifier],
    expected_identity: str | None,
    annotations: Mapping[str, str],
    keyless: KeylessPolicy | None = None,
) -> VerifiedSignature:
    if layer.media_type != SIMPLESIGNING_MEDIA_TYPE:
        raise _Rejected(f"media type {layer.media_type!r} is not {SIMPLESIGNING_MEDIA_TYPE}")
    b64 = layer.signature_b64
    if not b64:
        raise _Rejected("the layer has no dev.cosignproject.cosign/signature annotation")
    try:
        signature = decode_b64(b64, "signature annotation")
        payload = store.get_blob(layer.digest, layer.size, MAX_PAYLOAD_SIZE)
    except InputError as exc:
        raise _Rejected(str(exc)) from exc
    signed_by = _authenticate(layer, payload, signature, verifiers, keyless)
    try:
        parsed = parse_simple_signing(payload)
    except InputError as exc:
        raise _Rejected(str(exc)) from exc
    if parsed.type != COSIGN_SIGNATURE_TYPE:
        raise _Rejected(f"payload type {parsed.type!r} is not {COSIGN_SIGNATURE_TYPE!r}")
    if parsed.digest != target.digest:
        raise _Rejected(f"the payload signs {parsed.digest}, not the image digest {target.digest}")
    if expected_identity is not None and not same_repository(parsed.docker_reference, expected_identity):
        raise _Rejected(f"docker-reference {parsed.docker_reference!r} does not match {expected_identity!r}")
    optional: Mapping[str, Any] = parsed.optional or {}
    for name, value in annotations.items():
        if name not in optional:
            raise _Rejected(f"annotation {name!r} is missing from the payload")
        if optional[name] != value:
            raise _Rejected(f"annotation {name}={optional[name]!r}, required {value!r}")
    return VerifiedSignature(parsed, payload, signed_by, layer.digest)


def verify_signatures(
    store: SignatureStore,
    target: Target,
    verifiers: Sequence[Verifier],
    *,
    expected_identity: str | None,
    annotations: Mapping[str, str] | None = None,
    keyless: KeylessPolicy | None = None,
) -> list[VerifiedSignature]:
    """Every signature on ``target`` that passes all checks; VerificationError with reasons if none.

    A signature is accepted when one of ``verifiers`` verifies it, or (with ``keyless``) when its
    Fulcio certificate and Rekor bundle pass :func:`imgsec.signing.keyless.verify_keyless`.
    """
    if not verifiers and keyless is None:
        raise InputError(
            "verification needs a public key (--key) or a keyless identity "
            "(--certificate-identity, --certificate-oidc-issuer, --trusted-root)"
        )
    location, layers = _layers(store, target, SIGNATURE_SUFFIX, "signatures", SIGNATURE_ARTIFACT_TYPE)
    good: list[VerifiedSignature] = []
    reasons: list[str] = []
    for i, layer in enumerate(layers):
        try:
            good.append(
                _check_signature_layer(
                    store, target, layer, verifiers, expected_identity, annotations or {}, keyless
                )
            )
        except _Rejected as exc:
            reasons.append(f"signature {i + 1}: {exc}")
    if not good:
        raise _fail(target, "signature", location, reasons)
    return good


def _check_attestation_layer(
    store: SignatureStore,
    target: Target,
    layer: SignatureLayer,
    verifiers: Sequence[Verifier],
    predicate_type: str | None,
) -> VerifiedAttestation:
    if layer.media_type != DSSE_MEDIA_TYPE:
        raise _Rejected(f"media type {layer.media_type!r} is not {DSSE_MEDIA_TYPE}")
    try:
        envelope = parse_envelope(store.get_blob(layer.digest, layer.size, MAX_ATTESTATION_SIZE))
    except InputError as exc:
        raise _Rejected(str(exc)) from exc
    if not envelope.signatures:
        raise _Rejected("the DSSE envelope carries no signatures")
    signed = pae(envelope.payload_type, envelope.payload)
    key = next((v for v in verifiers for s in envelope.signatures if v.verify(s.sig, signed)), None)
    if key is None:
        raise _Rejected("the DSSE signature does not verify with any of the given keys")
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise _Rejected(f"DSSE payload type {envelope.payload_type!r} is not {INTOTO_PAYLOAD_TYPE}")
    try:
        statement = parse_statement(envelope.payload)
    except InputError as exc:
        raise _Rejected(str(exc)) from exc
    if statement.type not in STATEMENT_TYPES:
        raise _Rejected(f"statement _type {statement.type!r} is not an in-toto statement")
    if not statement.matches_digest(target.digest):
        subjects = ", ".join(f"{n}@{d}" for n, d in statement.subjects) or "none"
        raise _Rejected(f"no statement subject has the image digest {target.digest} (subjects: {subjects})")
    if predicate_type is not None and statement.predicate_type != predicate_type:
        raise _Rejected(f"predicate type {statement.predicate_type!r} is not {predicate_type!r}")
    return VerifiedAttestation(statement, key.source, layer.digest)


def verify_attestations(
    store: SignatureStore,
    target: Target,
    verifiers: Sequence[Verifier],
    *,
    predicate_type: str | None,
) -> list[VerifiedAttestation]:
    """Every attestation on ``target`` that passes all checks; VerificationError with reasons if none."""
    if not verifiers:
        raise InputError("verification needs at least one public key (--key)")
    location, layers = _layers(store, target, ATTESTATION_SUFFIX, "attestations")
    good: list[VerifiedAttestation] = []
    reasons: list[str] = []
    for i, layer in enumerate(layers):
        try:
            good.append(_check_attestation_layer(store, target, layer, verifiers, predicate_type))
        except _Rejected as exc:
            reasons.append(f"attestation {i + 1}: {exc}")
    if not good:
        raise _fail(target, "attestation", location, reasons)
    return good
