"""Sign and verify in an OCI image layout, fully offline, and the rejection matrix with every reason.

Images are OCI layouts written byte by byte from the image spec (tests.helpers.registry.build_layout);
every tampered object below is built the way an attacker would: valid digests, wrong signatures.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from imgsec.errors import VerificationError
from imgsec.image.model import OCI_MANIFEST, sha256_digest
from imgsec.signing import keys, manifest, payload
from imgsec.signing.sign import attest_image, dsse_sign, sign_image
from imgsec.signing.store import Target
from imgsec.signing.store_oci import OCILayoutStore, parse_oci_argument
from imgsec.signing.verify import verify_attestations, verify_signatures
from tests.helpers.registry import BuiltImage, build_layout

IDENTITY = "registry.example/team/app"


@pytest.fixture(scope="module")
def signer() -> keys.Signer:
    return keys.load_private_key(keys.generate_key_pair(b"pw").private_pem, b"pw", "test.key")


@pytest.fixture(scope="module")
def other_signer() -> keys.Signer:
    return keys.load_private_key(keys.generate_key_pair(b"pw").private_pem, b"pw", "other.key")


def _add_image(layout: Path, tag: str, content: bytes, tmp: Path) -> BuiltImage:
    """Build a second image elsewhere and merge it into ``layout`` under ``tag``."""
    other = build_layout(tmp / f"build-{tag}", tag=tag, layers=({"etc/x": content},))
    for blob in (other.layout / "blobs" / "sha256").iterdir():
        shutil.copy(blob, layout / "blobs" / "sha256" / blob.name)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] += json.loads((other.layout / "index.json").read_text())["manifests"]
    (layout / "index.json").write_text(json.dumps(index))
    return other


@pytest.fixture
def image(tmp_path: Path) -> tuple[OCILayoutStore, BuiltImage]:
    built = build_layout(tmp_path / "layout", tag="v1")
    return OCILayoutStore(built.layout), built


def _target(store: OCILayoutStore, ref: str) -> Target:
    return store.resolve(ref, f"oci:{store.root}:{ref}")


def _put_layers(
    store: OCILayoutStore, tag: str, layers: list[manifest.SignatureLayer], blobs: list[bytes]
) -> None:
    for blob in blobs:
        store.put_blob(blob)
    config = manifest.build_config(layers)
    store.put_blob(config)
    store.put_manifest(manifest.build_manifest(layers, config), OCI_MANIFEST, tag)


def _reasons(exc: pytest.ExceptionInfo[VerificationError]) -> str:
    return str(exc.value)


def test_sign_verify_round_trip_and_resign(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, other_signer: keys.Signer
) -> None:
    store, built = image
    target = _target(store, "v1")
    assert target.digest == built.top_digest
    first = sign_image(store, target, signer, identity=IDENTITY, annotations={"env": "prod"})
    assert first.added
    good = verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert [g.payload.digest for g in good] == [built.top_digest]
    assert good[0].payload.optional == {"env": "prod"}

    again = sign_image(store, target, signer, identity=IDENTITY, annotations={"env": "prod"})
    assert not again.added
    tag = manifest.signature_tag(built.top_digest, "sig")
    data = store.get_manifest(tag)
    assert data is not None
    assert len(manifest.parse_signature_manifest(data, tag)) == 1

    sign_image(store, target, other_signer, identity=IDENTITY, annotations={"env": "prod"})
    data = store.get_manifest(tag)
    assert data is not None
    assert len(manifest.parse_signature_manifest(data, tag)) == 2
    # Any-of: a key that signed nothing next to one that did.
    stranger = keys.load_private_key(keys.generate_key_pair(b"").private_pem, b"", "s").verifier
    assert (
        len(verify_signatures(store, target, [stranger, other_signer.verifier], expected_identity=IDENTITY))
        == 1
    )
    both = verify_signatures(
        store, target, [signer.verifier, other_signer.verifier], expected_identity=IDENTITY
    )
    assert len(both) == 2
    # The signature manifest is a plain OCI manifest any tool reads; the payload is the layer blob.
    doc = json.loads(data)
    layer0 = doc["layers"][0]
    assert layer0["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    blob = (store.root / "blobs" / "sha256" / layer0["digest"].split(":")[1]).read_bytes()
    sig = base64.b64decode(layer0["annotations"]["dev.cosignproject.cosign/signature"])
    pub = signer.public_key
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, blob, ec.ECDSA(hashes.SHA256()))


def test_wrong_key(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, other_signer: keys.Signer
) -> None:
    store, _ = image
    target = _target(store, "v1")
    sign_image(store, target, signer, identity=IDENTITY)
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, target, [other_signer.verifier], expected_identity=IDENTITY)
    assert "does not verify with any of the given keys" in _reasons(exc)


def test_payload_byte_flipped(image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer) -> None:
    store, built = image
    target = _target(store, "v1")
    good = payload.simple_signing_payload(IDENTITY, built.top_digest, None)
    sig = base64.b64encode(signer.sign(good)).decode()
    flipped = bytearray(good)
    flipped[20] ^= 0x01
    layer = manifest.new_layer(
        bytes(flipped), manifest.SIMPLESIGNING_MEDIA_TYPE, {manifest.SIGNATURE_ANNOTATION: sig}
    )
    _put_layers(store, manifest.signature_tag(built.top_digest, "sig"), [layer], [bytes(flipped)])
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert "does not verify" in _reasons(exc)


def test_payload_blob_tampered_in_place(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer
) -> None:
    store, _ = image
    target = _target(store, "v1")
    res = sign_image(store, target, signer, identity=IDENTITY)
    path = store.root / "blobs" / "sha256" / res.layer_digest.split(":")[1]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert "does not match its digest" in _reasons(exc)


def test_signature_replayed_from_another_image(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, tmp_path: Path
) -> None:
    store, built = image
    other = _add_image(store.root, "v2", b"other image\n", tmp_path)
    sign_image(store, _target(store, "v1"), signer, identity=IDENTITY)
    # The attacker copies v1's signature manifest to v2's signature tag.
    sig_manifest = store.get_manifest(manifest.signature_tag(built.top_digest, "sig"))
    assert sig_manifest is not None
    store.put_manifest(sig_manifest, OCI_MANIFEST, manifest.signature_tag(other.top_digest, "sig"))
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, _target(store, "v2"), [signer.verifier], expected_identity=IDENTITY)
    assert f"the payload signs {built.top_digest}, not the image digest {other.top_digest}" in _reasons(exc)


def test_tag_moved_after_signing(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, tmp_path: Path
) -> None:
    store, built = image
    sign_image(store, _target(store, "v1"), signer, identity=IDENTITY)
    other = _add_image(store.root, "v1-new", b"new content\n", tmp_path)
    index = json.loads((store.root / "index.json").read_text())
    for entry in index["manifests"]:
        ann = entry.get("annotations", {})
        if ann.get("org.opencontainers.image.ref.name") == "v1":
            ann["org.opencontainers.image.ref.name"] = "v1-old"
        elif ann.get("org.opencontainers.image.ref.name") == "v1-new":
            ann["org.opencontainers.image.ref.name"] = "v1"
    (store.root / "index.json").write_text(json.dumps(index))
    target = _target(store, "v1")
    assert target.digest == other.top_digest
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert "no signatures found" in _reasons(exc)
    assert manifest.signature_tag(other.top_digest, "sig") in _reasons(exc)
    # The old digest still verifies.
    assert verify_signatures(
        store, _target(store, built.top_digest), [signer.verifier], expected_identity=IDENTITY
    )


def test_docker_reference_mismatch(image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer) -> None:
    store, _ = image
    target = _target(store, "v1")
    sign_image(store, target, signer, identity="registry.example/team/other")
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert "docker-reference 'registry.example/team/other' does not match" in _reasons(exc)
    # Configurable: with the check off it verifies.
    assert verify_signatures(store, target, [signer.verifier], expected_identity=None)


def test_annotation_constraints(image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer) -> None:
    store, _ = image
    target = _target(store, "v1")
    sign_image(store, target, signer, identity=IDENTITY, annotations={"env": "prod"})
    assert verify_signatures(
        store, target, [signer.verifier], expected_identity=IDENTITY, annotations={"env": "prod"}
    )
    with pytest.raises(VerificationError) as exc:
        verify_signatures(
            store, target, [signer.verifier], expected_identity=IDENTITY, annotations={"env": "dev"}
        )
    assert "annotation env='prod', required 'dev'" in _reasons(exc)
    with pytest.raises(VerificationError) as exc:
        verify_signatures(
            store, target, [signer.verifier], expected_identity=IDENTITY, annotations={"team": "a"}
        )
    assert "annotation 'team' is missing" in _reasons(exc)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda sig, body: ("not base64!", body), "malformed base64"),
        (lambda sig, body: (base64.b64encode(base64.b64decode(sig)[:-4]).decode(), body), "does not verify"),
        (lambda sig, body: ("", body), "no dev.cosignproject.cosign/signature annotation"),
    ],
    ids=["malformed-base64", "truncated-signature", "missing-annotation"],
)
def test_malformed_signatures(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, mutate: object, reason: str
) -> None:
    store, built = image
    body = payload.simple_signing_payload(IDENTITY, built.top_digest, None)
    sig = base64.b64encode(signer.sign(body)).decode()
    new_sig, new_body = mutate(sig, body)  # type: ignore[operator]
    layer = manifest.new_layer(
        new_body, manifest.SIMPLESIGNING_MEDIA_TYPE, {manifest.SIGNATURE_ANNOTATION: new_sig}
    )
    _put_layers(store, manifest.signature_tag(built.top_digest, "sig"), [layer], [new_body])
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, _target(store, "v1"), [signer.verifier], expected_identity=IDENTITY)
    assert reason in _reasons(exc)


@pytest.mark.parametrize(
    ("body_of", "reason"),
    [
        (lambda d: b'{"critical": nope}', "not valid JSON"),
        (
            lambda d: payload.simple_signing_payload(IDENTITY, d, None).replace(
                b"cosign container image signature", b"atomic container signature"
            ),
            "payload type 'atomic container signature'",
        ),
    ],
    ids=["malformed-json", "wrong-payload-type"],
)
def test_signed_but_bad_payloads(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, body_of: object, reason: str
) -> None:
    store, built = image
    body = body_of(built.top_digest)  # type: ignore[operator]
    sig = base64.b64encode(signer.sign(body)).decode()
    layer = manifest.new_layer(body, manifest.SIMPLESIGNING_MEDIA_TYPE, {manifest.SIGNATURE_ANNOTATION: sig})
    _put_layers(store, manifest.signature_tag(built.top_digest, "sig"), [layer], [body])
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, _target(store, "v1"), [signer.verifier], expected_identity=IDENTITY)
    assert reason in _reasons(exc)


def test_missing_signature_tag(image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer) -> None:
    store, _ = image
    with pytest.raises(VerificationError) as exc:
        verify_signatures(store, _target(store, "v1"), [signer.verifier], expected_identity=IDENTITY)
    assert "no signatures found" in _reasons(exc)
    assert exc.value.exit_code == 1


def test_attestation_round_trip_and_rejections(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, other_signer: keys.Signer, tmp_path: Path
) -> None:
    store, built = image
    target = _target(store, "v1")
    bom = b'{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}'
    res = attest_image(store, target, signer, subject_name=IDENTITY, predicate=bom, type_name="cyclonedx")
    assert res.added
    assert not attest_image(
        store, target, signer, subject_name=IDENTITY, predicate=bom, type_name="cyclonedx"
    ).added
    good = verify_attestations(store, target, [signer.verifier], predicate_type="https://cyclonedx.org/bom")
    assert good[0].statement.predicate == json.loads(bom)
    att = store.get_manifest(manifest.signature_tag(built.top_digest, "att"))
    assert att is not None
    layer = json.loads(att)["layers"][0]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert layer["annotations"]["predicateType"] == "https://cyclonedx.org/bom"

    with pytest.raises(VerificationError) as exc:
        verify_attestations(store, target, [other_signer.verifier], predicate_type=None)
    assert "DSSE signature does not verify" in str(exc.value)
    with pytest.raises(VerificationError) as exc:
        verify_attestations(store, target, [signer.verifier], predicate_type="https://spdx.dev/Document")
    assert "predicate type 'https://cyclonedx.org/bom' is not 'https://spdx.dev/Document'" in str(exc.value)

    # A validly signed envelope whose payload type is not in-toto.
    statement = payload.build_statement(IDENTITY, built.top_digest, "https://cyclonedx.org/bom", {})
    wrong_type = dsse_sign(signer, "text/plain", statement).to_json()
    # A validly signed statement about another digest, replayed onto this image.
    other_subject = payload.build_statement(IDENTITY, "sha256:" + "e" * 64, "https://cyclonedx.org/bom", {})
    wrong_subject = dsse_sign(signer, payload.INTOTO_PAYLOAD_TYPE, other_subject).to_json()
    for envelope, reason in (
        (wrong_type, "DSSE payload type 'text/plain'"),
        (wrong_subject, f"no statement subject has the image digest {built.top_digest}"),
    ):
        lay = manifest.new_layer(envelope, manifest.DSSE_MEDIA_TYPE, {manifest.SIGNATURE_ANNOTATION: ""})
        _put_layers(store, manifest.signature_tag(built.top_digest, "att"), [lay], [envelope])
        with pytest.raises(VerificationError) as exc:
            verify_attestations(store, target, [signer.verifier], predicate_type=None)
        assert reason in str(exc.value)


def test_oci_argument_parsing(tmp_path: Path) -> None:
    assert parse_oci_argument("oci:/some/dir:v1") == (Path("/some/dir"), "v1")
    assert parse_oci_argument("oci:/some/dir") == (Path("/some/dir"), None)
    digest = sha256_digest(b"x")
    assert parse_oci_argument(f"oci:/d@{digest}") == (Path("/d"), digest)
    odd = tmp_path / "with:colon"
    odd.mkdir()
    assert parse_oci_argument(f"oci:{odd}") == (odd, None)


def test_referrers_mode_in_an_oci_layout(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer
) -> None:
    store, built = image
    target = _target(store, "v1")
    res = sign_image(store, target, signer, identity=IDENTITY, referrers=True)
    assert res.added
    # Image spec 1.1: an untagged index entry with the artifactType, a manifest naming its subject.
    index = json.loads((store.root / "index.json").read_text())
    entries = [e for e in index["manifests"] if e.get("artifactType") == manifest.SIGNATURE_ARTIFACT_TYPE]
    assert len(entries) == 1
    assert "annotations" not in entries[0]
    doc = json.loads((store.root / "blobs" / "sha256" / entries[0]["digest"].split(":")[1]).read_bytes())
    assert doc["subject"] == {"mediaType": OCI_MANIFEST, "size": target.size, "digest": built.top_digest}
    assert doc["artifactType"] == manifest.SIGNATURE_ARTIFACT_TYPE
    assert doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    # No tag was written; verification finds the referrer.
    assert store.get_manifest(manifest.signature_tag(built.top_digest, "sig")) is None
    assert verify_signatures(store, target, [signer.verifier], expected_identity=IDENTITY)
    assert not sign_image(store, target, signer, identity=IDENTITY, referrers=True).added
    # The image is still the only image of the layout.
    assert _target(store, "v1") == store.resolve(None, "x").__class__(
        **{**target.__dict__, "display": target.display}
    )


def test_referrer_with_a_forged_index_entry_is_ignored(
    image: tuple[OCILayoutStore, BuiltImage], signer: keys.Signer, tmp_path: Path
) -> None:
    store, built = image
    other = _add_image(store.root, "v2", b"other\n", tmp_path)
    sign_image(store, _target(store, "v2"), signer, identity=IDENTITY, referrers=True)
    # v2's referrer is listed, but its manifest's subject is v2: it must not count for v1.
    with pytest.raises(VerificationError, match="no signatures found"):
        verify_signatures(store, _target(store, "v1"), [signer.verifier], expected_identity=IDENTITY)
    assert verify_signatures(store, _target(store, "v2"), [signer.verifier], expected_identity=IDENTITY)
    assert other.top_digest != built.top_digest
