"""What gets signed: the simple-signing payload, DSSE envelopes (PAE) and in-toto statements.

Byte-for-byte what cosign produces, because signatures are over exact bytes and other tools compare
payloads: JSON as Go's ``encoding/json`` writes it (compact, struct fields in declaration order, map
keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as ``\\u00XX``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from imgsec.errors import InputError, UsageError
from imgsec.reference import DEFAULT_REGISTRY, Reference

#: ``critical.type`` of every cosign image signature.
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
#: DSSE payload type of an in-toto statement.
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The statement type imgsec writes; verification accepts every value in STATEMENT_TYPES.
STATEMENT_TYPE_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPE_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = frozenset({STATEMENT_TYPE_V1, STATEMENT_TYPE_V01})

CUSTOM_PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/v1"
#: cosign's ``--type`` names (cmd/cosign/cli/options/predicate.go) and the predicate URIs they stand for.
PREDICATE_TYPES: Mapping[str, str] = {
    "custom": CUSTOM_PREDICATE_TYPE,
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}

_MAX_PAYLOAD = 4 * 1024 * 1024
#: SBOMs make large attestations; envelopes and statements may be this big.
MAX_ATTESTATION_SIZE = 64 * 1024 * 1024
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


# ------------------------------------------------------------------------------------ Go JSON


def _go_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], out)


def _go_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise UsageError("JSON cannot represent NaN or infinity")
    if value == 0:
        return "0" if math.copysign(1.0, value) > 0 else "-0"
    mag = abs(value)
    if 1e-6 <= mag < 1e21:
        text = repr(value)
        if "e" in text:
            text = format(Decimal(text), "f")
        return text.removesuffix(".0")
    mantissa, _, exponent = repr(value).partition("e")
    exp = int(exponent)
    return f"{mantissa.removesuffix('.0')}e{'-' if exp < 0 else '+'}{abs(exp):02d}".replace(
        "e+0", "e+"
    ).replace("e-0", "e-")


def go_json(value: Any) -> str:
    """``value`` encoded as Go's ``json.Marshal`` encodes the equivalent ``interface{}`` value.

    Dicts are written in their insertion order (pass already-sorted dicts for Go maps; build them in
    struct-field order for Go structs).  Use :func:`sort_maps` to sort a parsed document like Go does.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_go_string(str(k))}:{go_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def sort_maps(value: Any) -> Any:
    """A copy of a parsed JSON value with every object's keys sorted, as Go marshals a ``map``."""
    if isinstance(value, Mapping):
        return {k: sort_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_maps(v) for v in value]
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(data: bytes, what: str, max_size: int = _MAX_PAYLOAD) -> Any:
    """Strictly parse hostile JSON: size-limited, UTF-8, no duplicate keys, no NaN."""
    if len(data) > max_size:
        raise InputError(f"{what}: larger than {max_size // (1024 * 1024)} MiB")

    def _no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_reject_duplicates, parse_constant=_no_constants
        )
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{what}: not valid JSON ({exc})") from exc


# --------------------------------------------------------------------------- simple signing


def cosign_repository_name(ref: Reference) -> str:
    """The repository as go-containerregistry's ``Repository.Name()`` spells it (cosign's docker-reference).

    Docker Hub is ``index.docker.io`` there, and official images keep their ``library/`` prefix.
    """
    registry = "index.docker.io" if ref.registry == DEFAULT_REGISTRY else ref.registry
    return f"{registry}/{ref.repository}"


def same_repository(a: str, b: str) -> bool:
    """Whether two repository names denote the same repository (``docker.io`` == ``index.docker.io``)."""

    def norm(name: str) -> str:
        for alias in ("index.docker.io/", "registry-1.docker.io/"):
            if name.startswith(alias):
                return DEFAULT_REGISTRY + "/" + name[len(alias) :]
        return name

    return norm(a) == norm(b)


def simple_signing_payload(
    docker_reference: str, digest: str, annotations: Mapping[str, Any] | None
) -> bytes:
    """The payload ``cosign sign`` signs: ``{"critical":{...},"optional":...}`` with Go's encoding.

    ``optional`` is ``null`` without annotations, as in cosign (a nil Go map).
    """
    critical = {
        "identity": {"docker-reference": docker_reference},
        "image": {"docker-manifest-digest": digest},
        "type": COSIGN_SIGNATURE_TYPE,
    }
    optional = sort_maps(dict(annotations)) if annotations else None
    return go_json({"critical": critical, "optional": optional}).encode("utf-8")


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed simple-signing payload."""

    docker_reference: str
    digest: str
    type: str
    optional: Mapping[str, Any] | None
    document: Mapping[str, Any]


def _get_ci(obj: Mapping[str, Any], key: str, what: str) -> Any:
    # Go's encoding/json matches struct fields case-insensitively (the spec's own example writes
    # "Docker-manifest-digest"); more than one spelling of the same field is ambiguous, so refuse it.
    hits = [k for k in obj if k.lower() == key.lower()]
    if len(hits) > 1:
        raise InputError(f"{what}: field {key!r} appears more than once ({', '.join(hits)})")
    return obj[hits[0]] if hits else None


def parse_simple_signing(data: bytes, what: str = "signature payload") -> SimpleSigning:
    """Parse a simple-signing payload; InputError when a required field is missing or mistyped."""
    doc = parse_json(data, what)
    if not isinstance(doc, dict):
        raise InputError(f"{what}: expected a JSON object")
    critical = _get_ci(doc, "critical", what)
    if not isinstance(critical, dict):
        raise InputError(f"{what}: missing the 'critical' object")
    identity = _get_ci(critical, "identity", what)
    image = _get_ci(critical, "image", what)
    ptype = _get_ci(critical, "type", what)
    if not isinstance(identity, dict) or not isinstance(image, dict) or not isinstance(ptype, str):
        raise InputError(f"{what}: 'critical' needs 'identity', 'image' and 'type'")
    docker_reference = _get_ci(identity, "docker-reference", what)
    digest = _get_ci(image, "docker-manifest-digest", what)
    if not isinstance(docker_reference, str) or not isinstance(digest, str):
        raise InputError(
            f"{what}: needs critical.identity.docker-reference and critical.image.docker-manifest-digest"
        )
    optional = _get_ci(doc, "optional", what)
    if optional is not None and not isinstance(optional, dict):
        raise InputError(f"{what}: 'optional' must be an object or null")
    return SimpleSigning(docker_reference, digest, ptype, optional, doc)


# ------------------------------------------------------------------------------------------ DSSE


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: ``DSSEv1 <len> <type> <len> <body>`` (lengths in bytes)."""
    ptype = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload bytes, their type, and signatures over ``pae(type, payload)``."""

    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> bytes:
        """Serialised as go-securesystemslib's ``dsse.Envelope`` (payloadType, payload, signatures)."""
        doc = {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures
            ],
        }
        return go_json(doc).encode("utf-8")


def decode_b64(text: Any, what: str) -> bytes:
    """Strict standard base64 (cosign's encoding); InputError naming ``what`` when it is malformed."""
    if not isinstance(text, str):
        raise InputError(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what}: malformed base64 ({exc})") from exc


def parse_envelope(data: bytes, what: str = "DSSE envelope") -> Envelope:
    doc = parse_json(data, what, MAX_ATTESTATION_SIZE)
    if not isinstance(doc, dict):
        raise InputError(f"{what}: expected a JSON object")
    ptype = doc.get("payloadType")
    sigs = doc.get("signatures")
    if not isinstance(ptype, str) or not isinstance(sigs, list):
        raise InputError(f"{what}: needs 'payloadType', 'payload' and 'signatures'")
    payload = decode_b64(doc.get("payload"), f"{what} payload")
    parsed: list[EnvelopeSignature] = []
    for i, entry in enumerate(sigs):
        if not isinstance(entry, dict):
            raise InputError(f"{what}: signature {i} is not an object")
        keyid = entry.get("keyid", "")
        if not isinstance(keyid, str):
            raise InputError(f"{what}: signature {i} keyid is not a string")
        parsed.append(EnvelopeSignature(keyid, decode_b64(entry.get("sig"), f"{what} signature {i}")))
    return Envelope(ptype, payload, tuple(parsed))


# -------------------------------------------------------------------------------------- in-toto


def resolve_predicate_type(name: str) -> str:
    """cosign's ``--type``: a known name (cyclonedx, spdxjson, vuln, slsaprovenance, ...) or a URI."""
    if name in PREDICATE_TYPES:
        return PREDICATE_TYPES[name]
    parts = urlsplit(name)
    if parts.scheme and (parts.netloc or parts.path) and " " not in name:
        return name
    raise UsageError(
        f"invalid predicate type {name!r}: use one of {', '.join(sorted(PREDICATE_TYPES))} or an absolute URI"
    )


def build_predicate(raw: bytes, type_name: str, timestamp: str) -> Any:
    """The predicate value cosign puts in the statement for ``--type type_name`` and file bytes ``raw``.

    ``custom`` wraps the raw text as ``{"Data": ..., "Timestamp": ...}``; ``spdx`` keeps it a string;
    everything else must be JSON and is re-encoded with sorted keys as Go does.
    """
    uri = resolve_predicate_type(type_name)
    if uri == CUSTOM_PREDICATE_TYPE:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"predicate is not UTF-8 text: {exc}") from exc
        return {"Data": text, "Timestamp": timestamp}
    if type_name == "spdx":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"SPDX predicate is not UTF-8 text: {exc}") from exc
    value = parse_json(raw, f"predicate ({type_name})", MAX_ATTESTATION_SIZE)
    if not isinstance(value, dict):
        raise InputError(f"predicate ({type_name}): expected a JSON object")
    return sort_maps(value)


def build_statement(subject_name: str, digest: str, predicate_type: str, predicate: Any) -> bytes:
    """An in-toto statement about one image: ``_type``, ``predicateType``, ``subject``, ``predicate``."""
    algo, _, hex_ = digest.partition(":")
    doc = {
        "_type": STATEMENT_TYPE_V1,
        "predicateType": predicate_type,
        "subject": [{"name": subject_name, "digest": {algo: hex_}}],
        "predicate": predicate,
    }
    return go_json(doc).encode("utf-8")


@dataclass(frozen=True)
class Statement:
    type: str
    predicate_type: str
    subjects: tuple[tuple[str, Mapping[str, str]], ...]
    predicate: Any
    document: Mapping[str, Any]

    def matches_digest(self, digest: str) -> bool:
        algo, _, hex_ = digest.partition(":")
        return any(d.get(algo) == hex_ for _, d in self.subjects)


def parse_statement(data: bytes, what: str = "in-toto statement") -> Statement:
    doc = parse_json(data, what, MAX_ATTESTATION_SIZE)
    if not isinstance(doc, dict):
        raise InputError(f"{what}: expected a JSON object")
    stype, ptype, subjects = doc.get("_type"), doc.get("predicateType"), doc.get("subject")
    if not isinstance(stype, str) or not isinstance(ptype, str) or not isinstance(subjects, list):
        raise InputError(f"{what}: needs '_type', 'predicateType' and 'subject'")
    parsed: list[tuple[str, Mapping[str, str]]] = []
    for i, subject in enumerate(subjects):
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
            raise InputError(f"{what}: subject {i} needs a 'digest' object")
        name = subject.get("name", "")
        digests = {str(k): v for k, v in subject["digest"].items() if isinstance(v, str)}
        parsed.append((name if isinstance(name, str) else "", digests))
    return Statement(stype, ptype, tuple(parsed), doc.get("predicate"), doc)
