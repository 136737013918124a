"""Payload bytes as cosign writes them, checked against cosign's documented output and the DSSE spec."""

from __future__ import annotations

import base64
import json

import pytest

from imgsec.errors import InputError, UsageError
from imgsec.reference import parse_reference
from imgsec.signing import manifest, payload


def test_simple_signing_payload_matches_cosigns_published_output() -> None:
    # `cosign verify` output published in project-stacker/c3's README (no annotations: optional null).
    published = (
        b'{"critical":{"identity":{"docker-reference":"zothub.io/project-stacker/c3/go-devel-ubuntu-amd64"},'
        b'"image":{"docker-manifest-digest":"sha256:e426048cc64ca2c8d4b73cdf4b466e0cbb902e6ae35381c05eea63265c225b1b"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    ref = parse_reference("zothub.io/project-stacker/c3/go-devel-ubuntu-amd64:1.19.1")
    got = payload.simple_signing_payload(
        payload.cosign_repository_name(ref),
        "sha256:e426048cc64ca2c8d4b73cdf4b466e0cbb902e6ae35381c05eea63265c225b1b",
        None,
    )
    assert got == published


def test_docker_hub_repository_is_spelled_as_go_containerregistry_does() -> None:
    # go-containerregistry names Docker Hub "index.docker.io" and keeps "library/".
    assert payload.cosign_repository_name(parse_reference("nginx")) == "index.docker.io/library/nginx"
    assert payload.cosign_repository_name(parse_reference("127.0.0.1:5000/a/b:t")) == "127.0.0.1:5000/a/b"
    assert payload.same_repository("index.docker.io/library/nginx", "docker.io/library/nginx")
    assert not payload.same_repository("index.docker.io/library/nginx", "docker.io/library/redis")


def test_annotations_are_sorted_and_html_escaped_like_go() -> None:
    got = payload.simple_signing_payload("r.io/a", "sha256:" + "0" * 64, {"z": "1", "a": "<b>&", "m": "é"})
    optional = got.split(b'"optional":', 1)[1]
    # Go sorts map keys and escapes <, >, & as \u003c, \u003e, \u0026; non-ASCII stays UTF-8.
    assert optional == '{"a":"\\u003cb\\u003e\\u0026","m":"é","z":"1"}}'.encode()
    assert json.loads(got)["optional"] == {"a": "<b>&", "m": "é", "z": "1"}


def test_parse_accepts_the_spec_example_capitalisation() -> None:
    # SIGNATURE_SPEC.md's example writes "Docker-manifest-digest"; Go's decoder matches it.
    doc = (
        b'{"critical":{"identity":{"docker-reference":"testing/manifest"},'
        b'"image":{"Docker-manifest-digest":"sha256:20be'
        + b"0"
        * 56
        + b'"},"type":"cosign container image signature"},'
        b'"optional":{"creator":"atomic","timestamp":1458239713}}'
    )
    parsed = payload.parse_simple_signing(doc)
    assert parsed.docker_reference == "testing/manifest"
    assert parsed.digest.startswith("sha256:20be")
    assert parsed.optional == {"creator": "atomic", "timestamp": 1458239713}


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"critical":{}}', "needs 'identity'"),
        (b'{"critical":{"identity":{},"image":{},"type":"x"}}', "docker-reference"),
        (b'{"critical":1,"critical":2}', "duplicate key"),
        (
            b'{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"d",'
            b'"Docker-Manifest-Digest":"e"},"type":"x"}}',
            "more than once",
        ),
    ],
)
def test_malformed_payloads_are_rejected_with_reason(doc: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        payload.parse_simple_signing(doc)


def test_pae_matches_the_dsse_specification_example() -> None:
    # DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
    assert (
        payload.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths count bytes, not characters.
    assert payload.pae("t", "é".encode()) == b"DSSEv1 1 t 2 " + "é".encode()


def test_envelope_serialisation_and_parse_round_trip() -> None:
    env = payload.Envelope(
        "application/vnd.in-toto+json", b"{}", (payload.EnvelopeSignature("", b"\x01\x02"),)
    )
    data = env.to_json()
    assert (
        data
        == b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AQI="}]}'
    )
    assert payload.parse_envelope(data) == env
    with pytest.raises(InputError, match="malformed base64"):
        payload.parse_envelope(data.replace(b"AQI=", b"A!I="))


def test_predicate_types_are_cosigns() -> None:
    # cosign options/predicate.go and in-toto-golang constants.
    assert payload.resolve_predicate_type("cyclonedx") == "https://cyclonedx.org/bom"
    assert payload.resolve_predicate_type("spdxjson") == "https://spdx.dev/Document"
    assert payload.resolve_predicate_type("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert payload.resolve_predicate_type("slsaprovenance") == "https://slsa.dev/provenance/v0.2"
    assert payload.resolve_predicate_type("https://example.com/p/v1") == "https://example.com/p/v1"
    with pytest.raises(UsageError, match="invalid predicate type"):
        payload.resolve_predicate_type("cyclone-dx")


def test_statement_layout() -> None:
    pred = payload.build_predicate(b'{"b":1,"a":[1.0,2.5]}', "cyclonedx", "2024-01-01T00:00:00Z")
    data = payload.build_statement("r.io/app", "sha256:" + "ab" * 32, "https://cyclonedx.org/bom", pred)
    assert data == (
        b'{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://cyclonedx.org/bom",'
        b'"subject":[{"name":"r.io/app","digest":{"sha256":"' + b"ab" * 32 + b'"}}],'
        b'"predicate":{"a":[1,2.5],"b":1}}'
    )
    st = payload.parse_statement(data)
    assert st.matches_digest("sha256:" + "ab" * 32)
    assert not st.matches_digest("sha256:" + "cd" * 32)
    custom = payload.build_predicate(b"free text", "custom", "2024-01-01T00:00:00Z")
    assert custom == {"Data": "free text", "Timestamp": "2024-01-01T00:00:00Z"}


def test_go_float_formatting() -> None:
    # strconv.FormatFloat(f, 'f' or 'e', -1, 64) as encoding/json picks it.
    cases = {
        1.0: "1",
        0.5: "0.5",
        1e20: "100000000000000000000",
        1e21: "1e+21",
        1e-7: "1e-7",
        1.234e-5: "0.00001234",
    }
    for value, text in cases.items():
        assert payload.go_json(value) == text


def test_signature_manifest_has_cosigns_shape() -> None:
    sig_payload = payload.simple_signing_payload("r.io/a", "sha256:" + "1" * 64, None)
    layer = manifest.new_layer(
        sig_payload, manifest.SIMPLESIGNING_MEDIA_TYPE, {manifest.SIGNATURE_ANNOTATION: "MEUC"}
    )
    config = manifest.build_config([layer], created="2024-05-06T07:08:09Z")
    doc = json.loads(manifest.build_manifest([layer], config))
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert doc["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert doc["layers"] == [
        {
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": len(sig_payload),
            "digest": layer.digest,
            "annotations": {"dev.cosignproject.cosign/signature": "MEUC"},
        }
    ]
    cfg = json.loads(config)
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": [layer.digest]}
    assert cfg["created"] == "2024-05-06T07:08:09Z"
    assert manifest.signature_tag("sha256:" + "1" * 64, "sig") == "sha256-" + "1" * 64 + ".sig"
    assert base64.b64decode("MEUC")  # the annotation is plain standard base64


def test_signature_manifest_parse_rejects_hostile_documents() -> None:
    with pytest.raises(InputError, match="schemaVersion 2"):
        manifest.parse_signature_manifest(b'{"schemaVersion":1}', "m")
    with pytest.raises(InputError, match="invalid size"):
        manifest.parse_signature_manifest(
            b'{"schemaVersion":2,"layers":[{"mediaType":"x","digest":"sha256:'
            + b"0" * 64
            + b'","size":-1}]}',
            "m",
        )
    with pytest.raises(InputError, match="invalid digest"):
        manifest.parse_signature_manifest(
            b'{"schemaVersion":2,"layers":[{"mediaType":"x","digest":"sha256:../../etc","size":1}]}', "m"
        )
