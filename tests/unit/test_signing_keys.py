"""Keys in cosign's format: known-answer vectors from cosign and go-securesystemslib, generation, loading."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from imgsec.errors import InputError, UsageError
from imgsec.signing import keys

# Vectors published in go-securesystemslib's encrypted/encrypted_test.go, passphrase b"supersecret":
# TestDecrypt's (Legacy strength) holds b"reallyimportant"; the kdfVectors (Standard, OWASP) go through
# encrypted.Marshal, so they hold the JSON encoding of that []byte: a quoted base64 string.
SSL_VECTORS = [
    b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},'
    b'"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}',
    b'{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},'
    b'"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}',
    b'{"kdf":{"name":"scrypt","params":{"N":131072,"r":8,"p":1},"salt":"m38E3kouJTtiheLQN22NQ8DTito5hrjpUIskqcd375k="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"Y6PM13yA+o44pE/W1ZBwczeGnTV/m9Zc"},'
    b'"ciphertext":"6H8sqj1K6B6yDjtH5AQ6lbFigg/C2yDDJc4rYJ79w9aVPImFIPI="}',
]
SSL_UNSUPPORTED = (
    b'{"kdf":{"name":"scrypt","params":{"N":99,"r":99,"p":99},"salt":"cZFcQJdwPhPyhU1R4qkl0qVOIjZd4V/7LYYAavq166k="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"7vhRS7j0hEPBWV05skAdgLj81AkGeE7U"},'
    b'"ciphertext":"6WYU/YSXVbYzl/NzaeAzmjLyfFhOOjLc0d8/GFV0aBFdJvyCcXc="}'
)

# Test keys published in sigstore/cosign pkg/cosign/keys_test.go, password "hello".
COSIGN_LABELED_KEY = b"""-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJ4WWdoc09JTUxUWGNOT0RsclNIOUNKc1FlOVFnZmN1
cmUrMXlLdHh1TlkwPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiI0cS9PSlVmaXJkSUkrUjZ0ajZBMmcyQ0JqL25xdFNicCJ9LCJj
aXBoZXJ0ZXh0IjoiKzB4Q3NzcFN0WStBczdKanJpOWtsbHBWd2JhcUI4ZWJNdWto
eS9aVE1MSXRsL3B1YS9jWVJvbytLRGxMWWdmOW1kSjk4K1FnQW9oTktoYnJPMTcw
MHdBY1JTMjFDOE4zQUNJRUVZaWpOMllBNnMraGJSbkhjUnd4eGhDMDFtb2FvL0dO
Y1pmbEJheXZMV3pXblo4d2NDZ2ZpT1o1VXlRTEFJMHh0dnR6dEh3cTdDV1Vhd3V4
RlhlNDZzck9TUE9SNHN6bytabWErUGovSFE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
SIGSTORE_LABELED_KEY = b"""-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""
# Plain keys from the same file: a PKCS#8 P-256 key and a SEC1 P-384 key.
PKCS8_P256 = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmKnLL81dCEYc6Spq
rFukFeTnU5JjtXfeNHAXJj3hYTahRANCAATjp4/Z4tUbZwUdId07GQeUdwLll4Br
YLP25Fk+mBY2G0lyKqjqLG5hxhimbEJH6j+lzg5tcYpQgzXtOJ66Zi0N
-----END PRIVATE KEY-----
"""
SEC1_P384 = b"""-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDWIebxSdyJVber6J/l5MKnD0+VU0b7fcjY/RbIxuIsHLVIvwJrSohY
r3gJ/iJmIKGgBwYFK4EEACKhZANiAAQeoKZkkc1GafmIgp1tbNbMBjr2EdvX2dtT
lGhzHJgE0YB6TavazcYH1iOBNmX7/pInCopiyWbjF/5olrRKJMG6DQz80td++fYf
O4tr+Z3nyUgRGmf/fqYA4PSN30CuOMU=
-----END EC PRIVATE KEY-----
"""
# cosign refuses P-224 ("ECDSA curve P-224 not allowed"): so do we.
SEC1_P224 = b"""-----BEGIN EC PRIVATE KEY-----
MGgCAQEEHNpr8qVw+OcDrk/2aSqCGkWFKIjJSH0smeuloomgBwYFK4EEACGhPAM6
AARL+L9osuD8BYNr/aCkJiDHfDhxosXNOkcml4XPsnN88EjUqI2J7lMqmea5guwr
eu5jUfVoZzti6A==
-----END EC PRIVATE KEY-----
"""
ED25519_PKCS8 = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIALEbo1EFnWFqBK/wC+hhypG/8hXEerwdNetAoFoFVdv
-----END PRIVATE KEY-----
"""


@pytest.mark.parametrize(
    ("vector", "plaintext"),
    [
        (SSL_VECTORS[0], b"reallyimportant"),
        (SSL_VECTORS[1], json.dumps(base64.b64encode(b"reallyimportant").decode()).encode()),
        (SSL_VECTORS[2], json.dumps(base64.b64encode(b"reallyimportant").decode()).encode()),
    ],
)
def test_go_securesystemslib_vectors_decrypt(vector: bytes, plaintext: bytes) -> None:
    assert keys.decrypt_envelope(vector, b"supersecret") == plaintext


def test_go_securesystemslib_vector_wrong_password_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="wrong password"):
        keys.decrypt_envelope(SSL_VECTORS[0], b"supersecreT")


def test_unsupported_scrypt_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="unsupported scrypt parameters"):
        keys.decrypt_envelope(SSL_UNSUPPORTED, b"supersecret")


@pytest.mark.parametrize("pem", [COSIGN_LABELED_KEY, SIGSTORE_LABELED_KEY], ids=["cosign", "sigstore"])
def test_cosign_published_keys_load_sign_and_verify(pem: bytes) -> None:
    signer = keys.load_private_key(pem, b"hello", "cosign test key")
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    data = b'{"critical":{}}'
    sig = signer.sign(data)
    # Verify with the public half exported as a PKIX PEM, independently of our Verifier.
    pub = serialization.load_pem_public_key(keys.public_key_pem(signer.public_key))
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    assert keys.load_public_key(keys.public_key_pem(signer.public_key)).verify(sig, data)
    assert not keys.load_public_key(keys.public_key_pem(signer.public_key)).verify(sig, data + b" ")


def test_cosign_published_key_wrong_password() -> None:
    with pytest.raises(InputError, match="wrong password"):
        keys.load_private_key(SIGSTORE_LABELED_KEY, b"hellO", "k")


def test_encrypted_key_without_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="IMGSEC_PASSWORD"):
        keys.load_private_key(SIGSTORE_LABELED_KEY, None, "k")


def test_generated_key_pair_has_cosigns_format() -> None:
    pair = keys.generate_key_pair(b"pw")
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert pair.private_pem.endswith(b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body_lines = pair.private_pem.splitlines()[1:-1]
    assert all(len(line) <= 64 for line in body_lines)
    envelope = json.loads(base64.b64decode(b"".join(body_lines)))
    # go-securesystemslib's envelope, Legacy strength, exactly these fields.
    assert list(envelope) == ["kdf", "cipher", "ciphertext"]
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    # Inside: a PKCS#8 DER P-256 key, which OpenSSL (via cryptography) reads without our code.
    der = keys.decrypt_envelope(base64.b64decode(b"".join(body_lines)), b"pw")
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp256r1"
    assert der[:1] == b"\x30"
    public = serialization.load_pem_public_key(pair.public_pem)
    assert pair.public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert public.public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]


def test_plain_private_keys_load() -> None:
    p256 = keys.load_private_key(PKCS8_P256, None, "p256")
    p384 = keys.load_private_key(SEC1_P384, None, "p384")
    for signer in (p256, p384):
        sig = signer.sign(b"data")
        assert signer.verifier.verify(sig, b"data")
    # P-384 signs with SHA-384, as sigstore's default signer does.
    pub384 = p384.public_key
    assert isinstance(pub384, ec.EllipticCurvePublicKey)
    pub384.verify(p384.sign(b"x"), b"x", ec.ECDSA(hashes.SHA384()))


def test_weak_or_unsupported_private_keys_are_refused() -> None:
    with pytest.raises(InputError, match="P-256, P-384 or P-521"):
        keys.load_private_key(SEC1_P224, None, "p224")
    with pytest.raises(InputError, match="Ed25519"):
        keys.load_private_key(ED25519_PKCS8, None, "ed")
    small = rsa.generate_private_key(65537, 1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match="RSA key size 1024"):
        keys.load_private_key(pem, None, "rsa1024")


def test_rsa_and_ed25519_public_keys_verify() -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)
    rsa_sig = rsa_key.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    rsa_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert keys.load_public_key(rsa_pem).verify(rsa_sig, b"payload")
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert keys.load_public_key(ed_pem).verify(ed.sign(b"payload"), b"payload")
    assert not keys.load_public_key(ed_pem).verify(ed.sign(b"payload"), b"payloaD")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a key at all", "no PEM block"),
        (b"-----BEGIN PUBLIC KEY-----\nnot!base64\n-----END PUBLIC KEY-----\n", "not valid base64"),
        (b"-----BEGIN PUBLIC KEY-----\nYWJj\n-----END PUBLIC KEY-----\n", "cannot parse the public key"),
        (b"-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n", "unsupported PEM type"),
        (PKCS8_P256, "this is a private key"),
    ],
)
def test_malformed_public_keys_are_rejected_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        keys.load_public_key(data, "k.pub")


def test_malformed_encrypted_key_is_rejected_with_reason() -> None:
    body = base64.b64encode(b'{"kdf":{"name":"argon2"},"cipher":{"name":"nacl/secretbox"}}')
    pem = (
        b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
        + body
        + b"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    )
    with pytest.raises(InputError, match="unsupported key derivation"):
        keys.load_private_key(pem, b"x", "k")
    not_json = keys.encode_pem(keys.SIGSTORE_PRIVATE_KEY_PEM_TYPE, b"\x00garbage")
    with pytest.raises(InputError, match="JSON envelope"):
        keys.load_private_key(not_json, b"x", "k")


def test_write_key_pair_modes_and_no_clobber(tmp_path: Path) -> None:
    pair = keys.generate_key_pair(b"")
    priv, pub = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    keys.write_key_pair(pair, priv, pub)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert priv.read_bytes() == pair.private_pem
    assert pub.read_bytes() == pair.public_pem
    with pytest.raises(UsageError, match="already exists"):
        keys.write_key_pair(keys.generate_key_pair(b""), priv, pub)
    assert priv.read_bytes() == pair.private_pem
    # Empty password round-trips (cosign allows it too).
    assert keys.load_private_key_file(priv, b"").verifier.key_id == keys.load_public_key_file(pub).key_id
