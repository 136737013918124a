"""Keyless (Fulcio certificate + Rekor entry) cosign signatures, verified with no network at all.

What cosign stores on a keyless signature layer: the Fulcio leaf certificate
(``dev.sigstore.cosign/certificate``), optionally its chain (``dev.sigstore.cosign/chain``), and the
Rekor bundle (``dev.sigstore.cosign/bundle``): the signed entry timestamp (SET) with the entry body,
integrated time, log index and log ID.  Offline verification, in this order:

1. the SET verifies with a Rekor key from the trusted root (chosen by log ID, valid at that time),
   over the canonical JSON of ``{body, integratedTime, logID, logIndex}``;
2. the entry body is a ``hashedrekord`` binding *this* payload digest, signature and certificate;
3. the certificate chains to a Fulcio CA of the trusted root, every certificate valid at the
   integrated time (the signing time); the leaf is a code-signing certificate;
4. the certificate's subject alternative name is the expected identity and its OIDC issuer extension
   the expected issuer;
5. the signature over the payload verifies with the certificate's key.

The trusted root is sigstore's ``trusted_root.json`` (protobuf JSON), given as a file: nothing is fetched.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from imgsec.errors import InputError
from imgsec.signing.keys import PublicKey, Verifier
from imgsec.signing.manifest import BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION
from imgsec.signing.payload import parse_json

#: Fulcio's OIDC issuer extensions: v1 holds the raw string, v2 a DER UTF8String.
OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_MAX_CHAIN = 10


class KeylessError(Exception):
    """One keyless check failed; the message is the reason."""


def _time(text: Any, what: str) -> _dt.datetime:
    if not isinstance(text, str):
        raise InputError(f"{what}: expected an RFC 3339 time")
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{what}: invalid time {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=_dt.UTC)


@dataclass(frozen=True)
class Window:
    start: _dt.datetime | None
    end: _dt.datetime | None

    def contains(self, when: _dt.datetime) -> bool:
        return (self.start is None or self.start <= when) and (self.end is None or when <= self.end)


def _window(doc: Any, what: str) -> Window:
    if not isinstance(doc, dict):
        return Window(None, None)
    start = _time(doc["start"], f"{what} validFor.start") if "start" in doc else None
    end = _time(doc["end"], f"{what} validFor.end") if "end" in doc else None
    return Window(start, end)


def _raw_bytes(doc: Any, what: str) -> bytes:
    if not isinstance(doc, dict) or not isinstance(doc.get("rawBytes"), str):
        raise InputError(f"{what}: missing rawBytes")
    try:
        return base64.b64decode(doc["rawBytes"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what}: rawBytes is not valid base64") from exc


@dataclass(frozen=True)
class CertificateAuthority:
    #: Intermediates first, root last.
    chain: tuple[x509.Certificate, ...]
    valid: Window


@dataclass(frozen=True)
class TransparencyLog:
    key: PublicKey
    log_id: str
    valid: Window


@dataclass(frozen=True)
class TrustedRoot:
    authorities: tuple[CertificateAuthority, ...]
    logs: tuple[TransparencyLog, ...]


def load_trusted_root(data: bytes, source: str = "trusted root") -> TrustedRoot:
    """Parse sigstore's ``trusted_root.json``: Fulcio CA chains and Rekor keys with validity windows."""
    doc = parse_json(data, source)
    if not isinstance(doc, dict):
        raise InputError(f"{source}: expected a JSON object (sigstore trusted_root.json)")
    cas, tlogs = doc.get("certificateAuthorities") or [], doc.get("tlogs") or []
    if not isinstance(cas, list) or not isinstance(tlogs, list):
        raise InputError(f"{source}: certificateAuthorities and tlogs must be lists")
    authorities: list[CertificateAuthority] = []
    for i, ca in enumerate(cas):
        what = f"{source}: certificateAuthorities[{i}]"
        certs = (ca.get("certChain") or {}).get("certificates") if isinstance(ca, dict) else None
        if not isinstance(certs, list) or not certs:
            raise InputError(f"{what}: no certChain.certificates")
        try:
            chain = tuple(x509.load_der_x509_certificate(_raw_bytes(c, what)) for c in certs[:_MAX_CHAIN])
        except ValueError as exc:
            raise InputError(f"{what}: not a DER certificate ({exc})") from exc
        authorities.append(CertificateAuthority(chain, _window(ca.get("validFor"), what)))
    logs: list[TransparencyLog] = []
    for i, tlog in enumerate(tlogs):
        what = f"{source}: tlogs[{i}]"
        pub = tlog.get("publicKey") if isinstance(tlog, dict) else None
        if not isinstance(pub, dict):
            raise InputError(f"{what}: missing publicKey")
        der = _raw_bytes(pub, what)
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InputError(f"{what}: not a DER public key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InputError(f"{what}: only ECDSA Rekor keys are supported")
        # Rekor's log ID is the SHA-256 of the DER public key (the bundle writes it in hex).
        logs.append(TransparencyLog(key, hashlib.sha256(der).hexdigest(), _window(pub.get("validFor"), what)))
    if not authorities or not logs:
        raise InputError(f"{source}: needs at least one certificate authority and one transparency log")
    return TrustedRoot(tuple(authorities), tuple(logs))


@dataclass(frozen=True)
class KeylessPolicy:
    """Who must have signed: the certificate identity (SAN) and OIDC issuer, exact strings."""

    identity: str
    issuer: str
    root: TrustedRoot


@dataclass(frozen=True)
class KeylessResult:
    identity: str
    issuer: str
    signed_at: _dt.datetime
    log_index: int


def _canonical_set_payload(body: str, integrated_time: int, log_id: str, log_index: int) -> bytes:
    # RFC 8785 canonical JSON of Rekor's bundle payload: sorted keys, no whitespace; the values are
    # base64, hex and integers, which every canonical form writes identically.
    doc = {"body": body, "integratedTime": integrated_time, "logID": log_id, "logIndex": log_index}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")


def _bundle(annotations: Mapping[str, str]) -> tuple[bytes, str, int, int, str]:
    raw = annotations.get(BUNDLE_ANNOTATION)
    if not raw:
        raise KeylessError(
            "no Rekor bundle annotation: offline verification needs the signed entry timestamp"
        )
    try:
        doc = parse_json(raw.encode("utf-8"), "Rekor bundle")
    except InputError as exc:
        raise KeylessError(str(exc)) from exc
    pay = doc.get("Payload") if isinstance(doc, dict) else None
    set_b64 = doc.get("SignedEntryTimestamp") if isinstance(doc, dict) else None
    if not isinstance(pay, dict) or not isinstance(set_b64, str):
        raise KeylessError("Rekor bundle lacks SignedEntryTimestamp or Payload")
    body, integrated, index, log_id = (
        pay.get("body"),
        pay.get("integratedTime"),
        pay.get("logIndex"),
        pay.get("logID"),
    )
    if not (
        isinstance(body, str)
        and isinstance(integrated, int)
        and isinstance(index, int)
        and isinstance(log_id, str)
        and not isinstance(integrated, bool)
        and not isinstance(index, bool)
    ):
        raise KeylessError("Rekor bundle Payload needs body, integratedTime, logIndex and logID")
    try:
        set_sig = base64.b64decode(set_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeylessError("Rekor bundle SignedEntryTimestamp is not valid base64") from exc
    return set_sig, body, integrated, index, log_id


def _check_body(body_b64: str, payload: bytes, signature: bytes, cert: x509.Certificate) -> None:
    try:
        entry = parse_json(base64.b64decode(body_b64, validate=True), "Rekor entry body")
    except (binascii.Error, ValueError, InputError) as exc:
        raise KeylessError(f"Rekor entry body is not base64 JSON ({exc})") from exc
    if not isinstance(entry, dict) or entry.get("kind") != "hashedrekord":
        kind = entry.get("kind") if isinstance(entry, dict) else None
        raise KeylessError(f"Rekor entry kind {kind!r} is not hashedrekord")
    spec = entry.get("spec") or {}
    data_hash = ((spec.get("data") or {}).get("hash") or {}) if isinstance(spec, dict) else {}
    sig = (spec.get("signature") or {}) if isinstance(spec, dict) else {}
    if (
        data_hash.get("algorithm") != "sha256"
        or data_hash.get("value") != hashlib.sha256(payload).hexdigest()
    ):
        raise KeylessError(
            "the Rekor entry records another payload digest: the bundle belongs to another signature"
        )
    try:
        entry_sig = base64.b64decode(sig.get("content", ""), validate=True)
        entry_cert_pem = base64.b64decode((sig.get("publicKey") or {}).get("content", ""), validate=True)
        entry_cert = x509.load_pem_x509_certificate(entry_cert_pem)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise KeylessError(f"the Rekor entry's signature or certificate is malformed ({exc})") from exc
    if entry_sig != signature:
        raise KeylessError(
            "the Rekor entry records another signature: the bundle belongs to another signature"
        )
    if entry_cert.public_bytes(serialization.Encoding.DER) != cert.public_bytes(serialization.Encoding.DER):
        raise KeylessError("the Rekor entry records another certificate")


def _valid_at(cert: x509.Certificate, when: _dt.datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _check_chain(cert: x509.Certificate, root: TrustedRoot, when: _dt.datetime) -> None:
    if not _valid_at(cert, when):
        raise KeylessError(
            f"the certificate was not valid at the signing time {when.isoformat()} "
            f"(valid {cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()})"
        )
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise KeylessError("the certificate has no extended key usage (code signing is required)") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise KeylessError("the certificate is not a code-signing certificate")
    for ca in root.authorities:
        if not ca.valid.contains(when):
            continue
        child = cert
        ok = True
        for parent in ca.chain:
            if not (_issued_by(child, parent) and _is_ca(parent) and _valid_at(parent, when)):
                ok = False
                break
            child = parent
        # The chain ends at a self-signed root.
        if ok and _issued_by(child, child):
            return
    raise KeylessError(
        "the certificate does not chain to a Fulcio CA of the trusted root (valid at signing time)"
    )


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """The subject alternative names Fulcio puts identities in: emails and URIs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *san.get_values_for_type(x509.RFC822Name),
        *san.get_values_for_type(x509.UniformResourceIdentifier),
    ]


def certificate_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded (v2 extension, DER UTF8String; else the v1 raw string)."""
    for oid in (OIDC_ISSUER_V2, OIDC_ISSUER_V1):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        if oid == OIDC_ISSUER_V2:
            # UTF8String: tag 0x0c, short or long form length.
            if len(raw) < 2 or raw[0] != 0x0C:
                return None
            length, offset = raw[1], 2
            if length & 0x80:
                n = length & 0x7F
                length, offset = int.from_bytes(raw[2 : 2 + n], "big"), 2 + n
            return raw[offset : offset + length].decode("utf-8", errors="replace")
        return raw.decode("utf-8", errors="replace")
    return None


def verify_keyless(
    annotations: Mapping[str, str], payload: bytes, signature: bytes, policy: KeylessPolicy
) -> KeylessResult:
    """Run checks 1-5 of the module docstring; KeylessError with the reason on the first failure."""
    pem = annotations.get(CERTIFICATE_ANNOTATION)
    if not pem:
        raise KeylessError(
            "no certificate annotation (dev.sigstore.cosign/certificate): not a keyless signature"
        )
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except ValueError as exc:
        raise KeylessError(f"the certificate annotation is not a PEM certificate ({exc})") from exc
    set_sig, body, integrated, index, log_id = _bundle(annotations)
    when = _dt.datetime.fromtimestamp(integrated, _dt.UTC)
    logs = [log for log in policy.root.logs if log.log_id == log_id]
    if not logs:
        raise KeylessError(f"the bundle's Rekor log {log_id[:16]}... is not in the trusted root")
    set_data = _canonical_set_payload(body, integrated, log_id, index)
    if not any(
        Verifier(log.key, "rekor").verify(set_sig, set_data) and log.valid.contains(when) for log in logs
    ):
        raise KeylessError(
            "the Rekor signed entry timestamp does not verify with the trusted root's Rekor key"
        )
    _check_body(body, payload, signature, cert)
    _check_chain(cert, policy.root, when)
    identities = certificate_identities(cert)
    if policy.identity not in identities:
        raise KeylessError(f"certificate identity {identities} does not match {policy.identity!r}")
    issuer = certificate_issuer(cert)
    if issuer != policy.issuer:
        raise KeylessError(f"certificate OIDC issuer {issuer!r} does not match {policy.issuer!r}")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeylessError("the certificate key is not ECDSA")
    if not Verifier(key, "certificate").verify(signature, payload):
        raise KeylessError("the signature does not verify with the certificate's key")
    return KeylessResult(policy.identity, issuer, when, index)
