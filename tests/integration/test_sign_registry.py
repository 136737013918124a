"""Sign, verify and attest against a real ``docker-registry`` (plain HTTP and htpasswd + TLS).

skopeo, a tool that does not share our code, reads the signature manifests we push and copies image
and signatures into an OCI layout, where they verify with no network.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from imgsec.errors import UsageError, VerificationError
from imgsec.image.sources import RegistryOptions
from imgsec.signing import keys, manifest
from imgsec.signing.sign import attest_image, sign_image
from imgsec.signing.targets import open_target
from imgsec.signing.verify import verify_attestations, verify_signatures
from tests.helpers.registry import RegistryServer, build_layout, skopeo_push

pytestmark = pytest.mark.integration


def _opts(server: RegistryServer) -> RegistryOptions:
    return RegistryOptions(
        username=server.username,
        password=server.password,
        ca_cert=server.ca_cert,
        insecure=server.ca_cert is None,
    )


def _skopeo_tls(server: RegistryServer, direction: str) -> list[str]:
    args = (
        [f"--{direction}-cert-dir", str(server.cert_dir)]
        if server.cert_dir
        else [f"--{direction}-tls-verify=false"]
    )
    if server.username:
        args += [f"--{direction}-creds", f"{server.username}:{server.password}"]
    return args


def _skopeo(*args: str) -> str:
    proc = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def signer() -> keys.Signer:
    return keys.load_private_key(keys.generate_key_pair(b"pw").private_pem, b"pw", "cosign.key")


@pytest.mark.parametrize("server_name", ["registry_plain", "registry_auth_tls"])
def test_round_trip(
    server_name: str, request: pytest.FixtureRequest, signer: keys.Signer, tmp_path: Path
) -> None:
    server: RegistryServer = request.getfixturevalue(server_name)
    repo = f"team/signed-{uuid.uuid4().hex[:8]}"
    built = build_layout(tmp_path / "layout", tag="v1")
    ref = skopeo_push(built, server, repo)
    opts = _opts(server)
    with open_target(ref, registry=opts) as res:
        assert res.target.digest == built.top_digest
        assert res.target.identity == f"{server.host}/{repo}"
        first = sign_image(
            res.store, res.target, signer, identity=res.target.identity, annotations={"env": "prod"}
        )
        assert first.added
        assert not sign_image(
            res.store, res.target, signer, identity=res.target.identity, annotations={"env": "prod"}
        ).added
        good = verify_signatures(
            res.store,
            res.target,
            [signer.verifier],
            expected_identity=res.target.identity,
            annotations={"env": "prod"},
        )
        assert good[0].payload.docker_reference == f"{server.host}/{repo}"
        bom = b'{"bomFormat":"CycloneDX","specVersion":"1.5"}'
        attest_image(
            res.store,
            res.target,
            signer,
            subject_name=res.target.identity,
            predicate=bom,
            type_name="cyclonedx",
        )
        atts = verify_attestations(
            res.store, res.target, [signer.verifier], predicate_type="https://cyclonedx.org/bom"
        )
        assert atts[0].statement.predicate == json.loads(bom)

    # skopeo reads the signature manifest from the registry: it is a well-formed OCI manifest.
    sig_tag = manifest.signature_tag(built.top_digest, "sig")
    raw = json.loads(
        _skopeo("inspect", "--raw", *_src_flags(server, "tls"), f"docker://{server.host}/{repo}:{sig_tag}")
    )
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in raw["layers"]] == [
        "application/vnd.dev.cosign.simplesigning.v1+json"
    ]

    # Copy image and signatures to an OCI layout; verify there with no registry at all.
    offline = tmp_path / "offline"
    for tag in ("v1", sig_tag, manifest.signature_tag(built.top_digest, "att")):
        _skopeo(
            "copy",
            "--preserve-digests",
            "--quiet",
            *_src_flags(server),
            f"docker://{server.host}/{repo}:{tag}",
            f"oci:{offline}:{tag}",
        )
    with open_target(f"oci:{offline}:v1") as res:
        assert res.target.digest == built.top_digest
        assert verify_signatures(
            res.store, res.target, [signer.verifier], expected_identity=f"{server.host}/{repo}"
        )
        assert verify_attestations(res.store, res.target, [signer.verifier], predicate_type=None)


def _src_flags(server: RegistryServer, style: str = "copy") -> list[str]:
    """skopeo's source flags: ``copy`` spells them --src-*, ``inspect`` without the prefix."""
    flags = _skopeo_tls(server, "src")
    return [f.replace("--src-", "--") for f in flags] if style == "tls" else flags


def test_tag_moved_after_signing(registry_plain: RegistryServer, signer: keys.Signer, tmp_path: Path) -> None:
    repo = f"team/moved-{uuid.uuid4().hex[:8]}"
    first = build_layout(tmp_path / "a", tag="v1")
    ref = skopeo_push(first, registry_plain, repo)
    with open_target(ref, registry=_opts(registry_plain)) as res:
        sign_image(res.store, res.target, signer, identity=str(res.target.identity))
    second = build_layout(tmp_path / "b", tag="v1", layers=({"etc/other": b"attacker's content\n"},))
    skopeo_push(second, registry_plain, repo)
    with open_target(ref, registry=_opts(registry_plain)) as res, pytest.raises(VerificationError) as exc:
        assert res.target.digest == second.top_digest
        verify_signatures(res.store, res.target, [signer.verifier], expected_identity=res.target.identity)
    assert "no signatures found" in str(exc.value)


def test_signature_repository_elsewhere(
    registry_plain: RegistryServer, signer: keys.Signer, tmp_path: Path
) -> None:
    repo = f"team/app-{uuid.uuid4().hex[:8]}"
    sigs = f"{registry_plain.host}/team/signatures-{uuid.uuid4().hex[:8]}"
    built = build_layout(tmp_path / "layout", tag="v1")
    ref = skopeo_push(built, registry_plain, repo)
    with open_target(ref, registry=_opts(registry_plain), signature_repo=sigs) as res:
        result = sign_image(res.store, res.target, signer, identity=str(res.target.identity))
        assert result.location == f"{sigs}:{manifest.signature_tag(built.top_digest, 'sig')}"
        assert verify_signatures(
            res.store, res.target, [signer.verifier], expected_identity=res.target.identity
        )
    # Nothing was written next to the image.
    with (
        open_target(ref, registry=_opts(registry_plain)) as res,
        pytest.raises(VerificationError, match="no signatures"),
    ):
        verify_signatures(res.store, res.target, [signer.verifier], expected_identity=res.target.identity)


def test_referrers_mode_needs_the_api(
    registry_plain: RegistryServer, signer: keys.Signer, tmp_path: Path
) -> None:
    # distribution 2.8 answers 404 on /v2/<name>/referrers/<digest>: no OCI 1.1 referrers API.
    repo = f"team/referrers-{uuid.uuid4().hex[:8]}"
    built = build_layout(tmp_path / "layout", tag="v1")
    ref = skopeo_push(built, registry_plain, repo)
    with open_target(ref, registry=_opts(registry_plain)) as res:
        assert res.target.media_type == "application/vnd.oci.image.manifest.v1+json"
        assert res.store.referrers(res.target.digest, manifest.SIGNATURE_ARTIFACT_TYPE) is None
        with pytest.raises(UsageError, match=r"no OCI 1\.1 referrers API"):
            sign_image(res.store, res.target, signer, identity=str(res.target.identity), referrers=True)
        # The tag scheme still works there, and verification falls back to it.
        sign_image(res.store, res.target, signer, identity=str(res.target.identity))
        assert verify_signatures(
            res.store, res.target, [signer.verifier], expected_identity=res.target.identity
        )
