"""Keyless signatures verified offline, against a Fulcio-like CA and a Rekor-like log built here.

The test PKI follows the public formats, not our code: Fulcio leaf certificates (code-signing EKU,
SAN identity, OIDC issuer extensions 1.3.6.1.4.1.57264.1.1 and .1.8), Rekor ``hashedrekord`` entries,
the bundle cosign stores in ``dev.sigstore.cosign/bundle`` (SET over the canonical JSON of body,
integratedTime, logID, logIndex) and sigstore's ``trusted_root.json``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from imgsec.errors import VerificationError
from imgsec.image.model import OCI_MANIFEST
from imgsec.signing import manifest, payload
from imgsec.signing.keyless import KeylessPolicy, load_trusted_root
from imgsec.signing.store_oci import OCILayoutStore
from imgsec.signing.verify import verify_signatures
from tests.helpers.registry import build_layout

IDENTITY = "dev@example.com"
ISSUER = "https://accounts.example.com"
SIGNED_AT = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (_name(cn), key)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True
        )
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(issuer_key, hashes.SHA384())
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


@dataclass
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey
    inter: x509.Certificate
    rekor_key: ec.EllipticCurvePrivateKey

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        identity: str = IDENTITY,
        issuer: str = ISSUER,
        v1: bool = False,
        eku: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
    ) -> x509.Certificate:
        issuer_ext = (
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode())
            if v1
            else x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), _der_utf8(issuer))
        )
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.inter.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(SIGNED_AT - dt.timedelta(minutes=1))
            .not_valid_after(SIGNED_AT + dt.timedelta(minutes=9))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(issuer_ext, critical=False)
            .sign(self.inter_key, hashes.SHA384())
        )

    def trusted_root(
        self, *, root: x509.Certificate | None = None, inter: x509.Certificate | None = None
    ) -> bytes:
        rekor_der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        doc = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                {
                    "baseUrl": "https://rekor.sigstore.test",
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {
                        "rawBytes": b64(rekor_der),
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                        "validFor": {"start": "2021-01-01T00:00:00Z"},
                    },
                    "logId": {"keyId": b64(hashlib.sha256(rekor_der).digest())},
                }
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "sigstore.test", "commonName": "fulcio"},
                    "uri": "https://fulcio.sigstore.test",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": b64((inter or self.inter).public_bytes(serialization.Encoding.DER))},
                            {"rawBytes": b64((root or self.root).public_bytes(serialization.Encoding.DER))},
                        ]
                    },
                    "validFor": {"start": "2021-01-01T00:00:00Z"},
                }
            ],
            "ctlogs": [],
            "timestampAuthorities": [],
        }
        return json.dumps(doc).encode()

    def log_id(self) -> str:
        der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()


def make_pki() -> Pki:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _ca("root", root_key, None)
    inter_key = ec.generate_private_key(ec.SECP384R1())
    inter = _ca("intermediate", inter_key, (root.subject, root_key))
    return Pki(root_key, root, inter_key, inter, ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def keyless_annotations(
    pki: Pki,
    body_payload: bytes,
    signature: bytes,
    cert: x509.Certificate,
    *,
    integrated: dt.datetime = SIGNED_AT,
    log_index: int = 4242,
    tamper_set: bool = False,
) -> dict[str, str]:
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    entry = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(body_payload).hexdigest()}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(cert_pem).decode()},
            },
        },
    }
    body = base64.b64encode(json.dumps(entry, separators=(",", ":")).encode()).decode()
    when = int(integrated.timestamp())
    canonical = json.dumps(
        {"body": body, "integratedTime": when, "logID": pki.log_id(), "logIndex": log_index},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    set_sig = pki.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))
    bundle = {
        "SignedEntryTimestamp": base64.b64encode(set_sig).decode(),
        "Payload": {
            "body": body,
            "integratedTime": when + (60 if tamper_set else 0),
            "logIndex": log_index,
            "logID": pki.log_id(),
        },
    }
    return {
        manifest.SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
        manifest.CERTIFICATE_ANNOTATION: cert_pem.decode(),
        manifest.CHAIN_ANNOTATION: (
            pki.inter.public_bytes(serialization.Encoding.PEM)
            + pki.root.public_bytes(serialization.Encoding.PEM)
        ).decode(),
        manifest.BUNDLE_ANNOTATION: json.dumps(bundle),
    }


def _store_signature(tmp_path: Path, annotations_of: Any) -> tuple[OCILayoutStore, str]:
    built = build_layout(tmp_path / "layout", tag="v1")
    store = OCILayoutStore(built.layout)
    body = payload.simple_signing_payload("registry.example/app", built.top_digest, None)
    annotations = annotations_of(body)
    layer = manifest.new_layer(body, manifest.SIMPLESIGNING_MEDIA_TYPE, annotations)
    store.put_blob(body)
    config = manifest.build_config([layer])
    store.put_blob(config)
    store.put_manifest(
        manifest.build_manifest([layer], config),
        OCI_MANIFEST,
        manifest.signature_tag(built.top_digest, "sig"),
    )
    return store, built.top_digest


def _verify(store: OCILayoutStore, policy: KeylessPolicy) -> str:
    target = store.resolve("v1", "oci:layout:v1")
    good = verify_signatures(store, target, [], expected_identity="registry.example/app", keyless=policy)
    return good[0].key


def _signed(pki: Pki, **cert_kwargs: Any) -> Any:
    def build(body: bytes) -> dict[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki.leaf(key, **cert_kwargs)
        return keyless_annotations(pki, body, key.sign(body, ec.ECDSA(hashes.SHA256())), cert)

    return build


def test_keyless_signature_verifies_offline(pki: Pki, tmp_path: Path) -> None:
    store, _ = _store_signature(tmp_path, _signed(pki))
    policy = KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root()))
    signer = _verify(store, policy)
    assert IDENTITY in signer
    assert "Rekor #4242" in signer


def test_v1_issuer_extension_is_read(pki: Pki, tmp_path: Path) -> None:
    store, _ = _store_signature(tmp_path, _signed(pki, v1=True))
    assert IDENTITY in _verify(store, KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root())))


def _rejected(store: OCILayoutStore, policy: KeylessPolicy, reason: str) -> None:
    with pytest.raises(VerificationError) as exc:
        _verify(store, policy)
    assert reason in str(exc.value)


def test_wrong_identity_or_issuer(pki: Pki, tmp_path: Path) -> None:
    store, _ = _store_signature(tmp_path, _signed(pki))
    root = load_trusted_root(pki.trusted_root())
    _rejected(store, KeylessPolicy("eve@example.com", ISSUER, root), "does not match 'eve@example.com'")
    _rejected(
        store,
        KeylessPolicy(IDENTITY, "https://evil.example", root),
        "OIDC issuer 'https://accounts.example.com'",
    )


def test_certificate_from_another_ca(pki: Pki, tmp_path: Path) -> None:
    store, _ = _store_signature(tmp_path, _signed(pki))
    other = make_pki()
    # Same Rekor key, but the trusted root names another Fulcio.
    root = load_trusted_root(pki.trusted_root(root=other.root, inter=other.inter))
    _rejected(store, KeylessPolicy(IDENTITY, ISSUER, root), "does not chain to a Fulcio CA")


def test_not_code_signing(pki: Pki, tmp_path: Path) -> None:
    store, _ = _store_signature(tmp_path, _signed(pki, eku=ExtendedKeyUsageOID.CLIENT_AUTH))
    _rejected(
        store, KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root())), "not a code-signing"
    )


def test_set_tampered_or_from_unknown_log(pki: Pki, tmp_path: Path) -> None:
    def tampered(body: bytes) -> dict[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki.leaf(key)
        return keyless_annotations(
            pki, body, key.sign(body, ec.ECDSA(hashes.SHA256())), cert, tamper_set=True
        )

    store, _ = _store_signature(tmp_path, tampered)
    root = load_trusted_root(pki.trusted_root())
    _rejected(store, KeylessPolicy(IDENTITY, ISSUER, root), "signed entry timestamp does not verify")

    other = make_pki()
    other.root, other.inter, other.root_key, other.inter_key = (
        pki.root,
        pki.inter,
        pki.root_key,
        pki.inter_key,
    )
    store2, _ = _store_signature(tmp_path / "b", _signed(other))
    _rejected(store2, KeylessPolicy(IDENTITY, ISSUER, root), "is not in the trusted root")


def test_signed_outside_certificate_validity(pki: Pki, tmp_path: Path) -> None:
    def late(body: bytes) -> dict[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki.leaf(key)
        sig = key.sign(body, ec.ECDSA(hashes.SHA256()))
        return keyless_annotations(pki, body, sig, cert, integrated=SIGNED_AT + dt.timedelta(hours=1))

    store, _ = _store_signature(tmp_path, late)
    _rejected(
        store,
        KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root())),
        "not valid at the signing time",
    )


def test_bundle_of_another_signature(pki: Pki, tmp_path: Path) -> None:
    def swapped(body: bytes) -> dict[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki.leaf(key)
        other_body = body.replace(b"registry.example", b"registry.elsewhere")
        annotations = keyless_annotations(
            pki, other_body, key.sign(other_body, ec.ECDSA(hashes.SHA256())), cert
        )
        annotations[manifest.SIGNATURE_ANNOTATION] = base64.b64encode(
            key.sign(body, ec.ECDSA(hashes.SHA256()))
        ).decode()
        return annotations

    store, _ = _store_signature(tmp_path, swapped)
    _rejected(
        store,
        KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root())),
        "another payload digest",
    )


def test_missing_bundle_cannot_verify_offline(pki: Pki, tmp_path: Path) -> None:
    def no_bundle(body: bytes) -> dict[str, str]:
        annotations = _signed(pki)(body)
        del annotations[manifest.BUNDLE_ANNOTATION]
        return dict(annotations)

    store, _ = _store_signature(tmp_path, no_bundle)
    _rejected(
        store, KeylessPolicy(IDENTITY, ISSUER, load_trusted_root(pki.trusted_root())), "no Rekor bundle"
    )


def test_trusted_root_parsing_rejects_garbage() -> None:
    from imgsec.errors import InputError

    with pytest.raises(InputError, match="needs at least one"):
        load_trusted_root(b'{"tlogs":[],"certificateAuthorities":[]}')
    with pytest.raises(InputError, match="rawBytes"):
        load_trusted_root(b'{"tlogs":[{"publicKey":{}}],"certificateAuthorities":[]}')
