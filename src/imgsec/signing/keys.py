"""Keys in cosign's formats, and the sign/verify primitives built on them.

Private keys are written the way ``cosign generate-key-pair`` writes them: a PKCS#8 DER key, encrypted
into go-securesystemslib's ``encrypted`` JSON envelope (scrypt N=32768 r=8 p=1 -> NaCl secretbox), in a
PEM block typed ``ENCRYPTED SIGSTORE PRIVATE KEY``.  Both that header and the older
``ENCRYPTED COSIGN PRIVATE KEY`` load, as do plain PKCS#8 / SEC1 / PKCS#1 PEM private keys.

Signature schemes follow sigstore's defaults: ECDSA with SHA-256 (P-256), SHA-384 (P-384) or SHA-512
(P-521), ASN.1 DER encoded; RSA PKCS#1 v1.5 with SHA-256; Ed25519 (pure) for verification only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from imgsec.errors import InputError, UsageError
from imgsec.signing.payload import go_json

COSIGN_PRIVATE_KEY_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_PRIVATE_KEY_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
ENCRYPTED_PEM_TYPES = frozenset({COSIGN_PRIVATE_KEY_PEM_TYPE, SIGSTORE_PRIVATE_KEY_PEM_TYPE})
PLAIN_PRIVATE_PEM_TYPES = frozenset({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"})
PUBLIC_PEM_TYPES = frozenset({"PUBLIC KEY", "RSA PUBLIC KEY"})

#: go-securesystemslib's KDF strengths (Legacy, Standard, OWASP); anything else is refused, as there.
SCRYPT_ALLOWED_PARAMS = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
#: cosign writes the Legacy strength; so do we, so that every cosign version reads our keys.
SCRYPT_DEFAULT_PARAMS = (32768, 8, 1)
_SALT_SIZE = 32
_KEY_FILE_MAX = 64 * 1024

_PEM_RE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n((?:[^\r\n]*\r?\n)*?)-----END \1-----",
)
_B64_LINE_RE = re.compile(rb"^[A-Za-z0-9+/=]*$")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


# --------------------------------------------------------------------------------------------- PEM


@dataclass(frozen=True)
class PemBlock:
    type: str
    body: bytes


def decode_pem(data: bytes, source: str) -> PemBlock:
    """The first PEM block of ``data``, with its body base64-decoded; InputError when there is none."""
    match = _PEM_RE.search(data)
    if match is None:
        raise InputError(f"{source}: no PEM block found (expected -----BEGIN ...----- / -----END ...-----)")
    pem_type = match.group(1).decode("ascii")
    lines = [line.strip() for line in match.group(2).splitlines()]
    if any(b":" in line for line in lines):
        raise InputError(f"{source}: PEM headers (Proc-Type, DEK-Info) are not supported")
    if not all(_B64_LINE_RE.match(line) for line in lines):
        raise InputError(f"{source}: the {pem_type} PEM block is not valid base64")
    try:
        body = base64.b64decode(b"".join(lines), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{source}: the {pem_type} PEM block is not valid base64 ({exc})") from exc
    if not body:
        raise InputError(f"{source}: the {pem_type} PEM block is empty")
    return PemBlock(pem_type, body)


def encode_pem(pem_type: str, body: bytes) -> bytes:
    """PEM exactly as Go's ``pem.EncodeToMemory`` writes it (64-column lines, trailing newline)."""
    b64 = base64.b64encode(body)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        f"-----BEGIN {pem_type}-----\n".encode()
        + b"".join(line + b"\n" for line in lines)
        + f"-----END {pem_type}-----\n".encode()
    )


# ---------------------------------------------------------------------------- encrypted envelope


def _go_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive_key(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=nacl.secret.SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password)


def encrypt_envelope(
    plaintext: bytes, password: bytes, *, params: tuple[int, int, int] = SCRYPT_DEFAULT_PARAMS
) -> bytes:
    """go-securesystemslib ``encrypted.Encrypt``: scrypt-derived key, NaCl secretbox, JSON envelope."""
    if params not in SCRYPT_ALLOWED_PARAMS:
        raise UsageError(f"unsupported scrypt parameters {params}")
    salt = secrets.token_bytes(_SALT_SIZE)
    nonce = secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE)
    n, r, p = params
    key = _derive_key(password, salt, n, r, p)
    ciphertext = nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext
    # Field order and spelling are those of the Go structs (kdf, cipher, ciphertext).
    envelope = go_json(
        {
            "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": _go_b64(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": _go_b64(nonce)},
            "ciphertext": _go_b64(ciphertext),
        }
    )
    return envelope.encode("ascii")


def _field(obj: Any, key: str, kind: type, source: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{source}: encrypted key envelope lacks {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"{source}: encrypted key envelope field {key!r} has the wrong type")
    return value


def _b64_field(obj: Any, key: str, source: str) -> bytes:
    text = _field(obj, key, str, source)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{source}: encrypted key envelope field {key!r} is not valid base64") from exc


def decrypt_envelope(envelope: bytes, password: bytes, source: str = "private key") -> bytes:
    """go-securesystemslib ``encrypted.Decrypt``; InputError on a malformed envelope or wrong password."""
    try:
        doc = json.loads(envelope)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{source}: the encrypted key is not the JSON envelope cosign writes ({exc})"
        ) from exc
    kdf = _field(doc, "kdf", dict, source)
    cipher = _field(doc, "cipher", dict, source)
    if _field(kdf, "name", str, source) != "scrypt":
        raise InputError(f"{source}: unsupported key derivation {kdf['name']!r} (only scrypt)")
    if _field(cipher, "name", str, source) != "nacl/secretbox":
        raise InputError(f"{source}: unsupported cipher {cipher['name']!r} (only nacl/secretbox)")
    params = _field(kdf, "params", dict, source)
    triple = (
        _field(params, "N", int, source),
        _field(params, "r", int, source),
        _field(params, "p", int, source),
    )
    if triple not in SCRYPT_ALLOWED_PARAMS:
        raise InputError(f"{source}: unsupported scrypt parameters N={triple[0]} r={triple[1]} p={triple[2]}")
    salt = _b64_field(kdf, "salt", source)
    nonce = _b64_field(cipher, "nonce", source)
    ciphertext = _b64_field(doc, "ciphertext", source)
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise InputError(f"{source}: the secretbox nonce must be {nacl.secret.SecretBox.NONCE_SIZE} bytes")
    if len(ciphertext) < nacl.secret.SecretBox.MACBYTES:
        raise InputError(f"{source}: the encrypted key is truncated")
    key = _derive_key(password, salt, *triple)
    try:
        return nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise InputError(
            f"{source}: cannot decrypt the private key: wrong password, or the key file is corrupt "
            "(give the password in IMGSEC_PASSWORD or COSIGN_PASSWORD, or type it at the prompt)"
        ) from None


# ------------------------------------------------------------------------------- key validation


def _check_private_key(key: object, source: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVE_HASHES:
            raise InputError(
                f"{source}: ECDSA curve {key.curve.name} is not allowed (use P-256, P-384 or P-521)"
            )
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if not 2048 <= key.key_size <= 4096:
            raise InputError(f"{source}: RSA key size {key.key_size} is not allowed (2048 to 4096 bits)")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(
            f"{source}: signing with Ed25519 keys is not supported (cosign signs with Ed25519ph, which "
            "imgsec cannot produce); use an ECDSA P-256 key from `imgsec key generate`"
        )
    raise InputError(f"{source}: unsupported private key type {type(key).__name__}")


def _check_public_key(key: object, source: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVE_HASHES:
            raise InputError(
                f"{source}: ECDSA curve {key.curve.name} is not allowed (use P-256, P-384 or P-521)"
            )
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if not 2048 <= key.key_size <= 4096:
            raise InputError(f"{source}: RSA key size {key.key_size} is not allowed (2048 to 4096 bits)")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise InputError(f"{source}: unsupported public key type {type(key).__name__}")


# ------------------------------------------------------------------------------------ signer/verifier


def public_key_pem(key: PublicKey) -> bytes:
    """The PKIX ``PUBLIC KEY`` PEM of ``key``."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_id(key: PublicKey) -> str:
    """A short, stable name for a public key: sha256 of its DER SubjectPublicKeyInfo."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Verifier:
    """A public key and where it came from; ``verify`` checks a raw signature over exact bytes."""

    key: PublicKey
    source: str

    @property
    def key_id(self) -> str:
        return public_key_id(self.key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                # sigstore signs with the curve's hash; cosign's key-based verifier always used SHA-256.
                algos: list[type[hashes.HashAlgorithm]] = [_CURVE_HASHES[self.key.curve.name], hashes.SHA256]
                for algo in algos:
                    try:
                        self.key.verify(signature, data, ec.ECDSA(algo()))
                        return True
                    except InvalidSignature:
                        continue
                return False
            if isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
            self.key.verify(signature, data)
            return True
        except (InvalidSignature, ValueError, UnsupportedAlgorithm):
            return False


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign; ``sign`` returns the raw (DER for ECDSA) signature."""

    key: PrivateKey
    source: str

    @property
    def public_key(self) -> PublicKey:
        return self.key.public_key()

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.public_key, self.source)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(data, ec.ECDSA(_CURVE_HASHES[self.key.curve.name]()))
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# ------------------------------------------------------------------------------- generate / load


@dataclass(frozen=True)
class KeyPair:
    """A freshly generated key pair as the two files cosign writes."""

    private_pem: bytes
    public_pem: bytes


def encrypt_private_key(key: PrivateKey, password: bytes) -> bytes:
    """``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM of ``key`` (PKCS#8 DER inside the encrypted envelope)."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encode_pem(SIGSTORE_PRIVATE_KEY_PEM_TYPE, encrypt_envelope(der, password))


def generate_key_pair(password: bytes) -> KeyPair:
    """A new ECDSA P-256 key pair, as ``cosign generate-key-pair`` makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(
        private_pem=encrypt_private_key(key, password), public_pem=public_key_pem(key.public_key())
    )


def is_encrypted_key(data: bytes) -> bool:
    """Whether ``data`` holds a cosign-encrypted private key (so a password is needed)."""
    match = _PEM_RE.search(data)
    return match is not None and match.group(1).decode("ascii") in ENCRYPTED_PEM_TYPES


def load_private_key(data: bytes, password: bytes | None, source: str = "private key") -> Signer:
    """Load a cosign-encrypted or plain PEM private key; ``password`` is needed for encrypted ones."""
    block = decode_pem(data, source)
    if block.type in ENCRYPTED_PEM_TYPES:
        if password is None:
            raise UsageError(
                f"{source}: the key is encrypted; give its password (IMGSEC_PASSWORD or COSIGN_PASSWORD)"
            )
        der = decrypt_envelope(block.body, password, source)
        try:
            key: object = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InputError(f"{source}: the decrypted key is not a PKCS#8 private key ({exc})") from exc
        return Signer(_check_private_key(key, source), source)
    if block.type in PLAIN_PRIVATE_PEM_TYPES:
        try:
            key = serialization.load_der_private_key(block.body, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InputError(f"{source}: cannot parse the {block.type} ({exc})") from exc
        return Signer(_check_private_key(key, source), source)
    if block.type in PUBLIC_PEM_TYPES:
        raise InputError(f"{source}: this is a public key; signing needs the private key")
    raise InputError(f"{source}: unsupported PEM type {block.type!r} for a private key")


def load_public_key(data: bytes, source: str = "public key") -> Verifier:
    """Load a ``PUBLIC KEY`` (PKIX) or ``RSA PUBLIC KEY`` PEM: ECDSA P-256/384/521, RSA, Ed25519."""
    block = decode_pem(data, source)
    if block.type in ENCRYPTED_PEM_TYPES or block.type in PLAIN_PRIVATE_PEM_TYPES:
        raise InputError(f"{source}: this is a private key; verification takes the public key (.pub)")
    if block.type not in PUBLIC_PEM_TYPES:
        raise InputError(f"{source}: unsupported PEM type {block.type!r} for a public key")
    try:
        if block.type == "RSA PUBLIC KEY":
            key: object = serialization.load_pem_public_key(encode_pem(block.type, block.body))
        else:
            key = serialization.load_der_public_key(block.body)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"{source}: cannot parse the public key ({exc})") from exc
    return Verifier(_check_public_key(key, source), source)


def read_key_file(path: Path) -> bytes:
    """Read a key file with a size limit; InputError with the reason when it cannot be read."""
    try:
        with path.open("rb") as fh:
            data = fh.read(_KEY_FILE_MAX + 1)
    except OSError as exc:
        raise InputError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    if len(data) > _KEY_FILE_MAX:
        raise InputError(f"key file {path} is larger than {_KEY_FILE_MAX // 1024} KiB; not a key")
    return data


def load_private_key_file(path: Path, password: bytes | None) -> Signer:
    return load_private_key(read_key_file(path), password, str(path))


def load_public_key_file(path: Path) -> Verifier:
    return load_public_key(read_key_file(path), str(path))


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_key_pair(pair: KeyPair, private_path: Path, public_path: Path, *, overwrite: bool = False) -> None:
    """Write the private key (mode 0600) and public key (0644) atomically; refuse to clobber by default."""
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise UsageError(f"{path} already exists; remove it or pass --force to overwrite")
    try:
        _atomic_write(private_path, pair.private_pem, 0o600)
        _atomic_write(public_path, pair.public_pem, 0o644)
    except OSError as exc:
        raise InputError(f"cannot write key pair: {exc}") from exc
