"""The signing commands as a user runs them: exit codes, stdout JSON, one-line reasons on stderr."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.registry import BuiltImage, build_layout

IMGSEC = str(Path(sys.executable).with_name("imgsec"))


def run(
    args: list[str], cwd: Path, password: str | None = "pw", env_name: str = "IMGSEC_PASSWORD"
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IMGSEC_PASSWORD", "COSIGN_PASSWORD", "IMGSEC_REPOSITORY")
    }
    if password is not None:
        env[env_name] = password
    return subprocess.run(
        [IMGSEC, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> tuple[Path, BuiltImage]:
    built = build_layout(tmp_path / "layout", tag="v1")
    proc = run(["key", "generate"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path, built


def test_key_generate_writes_cosign_files(tmp_path: Path) -> None:
    proc = run(["key", "generate", "--output-key-prefix", "release"], tmp_path, env_name="COSIGN_PASSWORD")
    assert proc.returncode == 0, proc.stderr
    key = tmp_path / "release.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert (tmp_path / "release.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    again = run(["key", "generate", "--output-key-prefix", "release"], tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_empty_password_needs_the_flag(tmp_path: Path) -> None:
    proc = run(["key", "generate"], tmp_path, password="")
    assert proc.returncode == 2
    assert "--allow-empty-password" in proc.stderr
    assert not (tmp_path / "cosign.key").exists()
    assert run(["key", "generate", "--allow-empty-password"], tmp_path, password="").returncode == 0
    no_password = run(["key", "generate", "--force"], tmp_path, password=None)
    assert no_password.returncode == 2
    assert "IMGSEC_PASSWORD" in no_password.stderr


def test_sign_verify_attest(workdir: tuple[Path, BuiltImage]) -> None:
    cwd, built = workdir
    image = f"oci:{built.layout}:v1"
    signed = run(
        ["sign", image, "--key", "cosign.key", "--identity", "r.example/app", "-a", "env=prod", "-f", "json"],
        cwd,
    )
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["digest"] == built.top_digest
    assert "is a tag" in signed.stderr

    verified = run(
        [
            "verify",
            image,
            "--key",
            "cosign.pub",
            "--identity",
            "r.example/app",
            "-a",
            "env=prod",
            "-f",
            "json",
        ],
        cwd,
    )
    assert verified.returncode == 0, verified.stderr
    payloads = json.loads(verified.stdout)
    assert payloads[0]["critical"]["image"]["docker-manifest-digest"] == built.top_digest
    assert payloads[0]["critical"]["type"] == "cosign container image signature"
    assert payloads[0]["optional"] == {"env": "prod"}

    (cwd / "bom.json").write_text('{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}')
    attested = run(
        [
            "attest",
            image,
            "--key",
            "cosign.key",
            "--predicate",
            "bom.json",
            "--type",
            "cyclonedx",
            "--identity",
            "r.example/app",
        ],
        cwd,
    )
    assert attested.returncode == 0, attested.stderr
    out = run(["verify-attestation", image, "--key", "cosign.pub", "--type", "cyclonedx", "-f", "json"], cwd)
    assert out.returncode == 0, out.stderr
    statements = json.loads(out.stdout)
    assert statements[0]["predicate"]["bomFormat"] == "CycloneDX"
    assert statements[0]["subject"][0]["digest"] == {"sha256": built.top_digest.split(":")[1]}


def test_rejections_exit_codes_and_reasons(workdir: tuple[Path, BuiltImage]) -> None:
    cwd, built = workdir
    image = f"oci:{built.layout}:v1"
    missing = run(["verify", image, "--key", "cosign.pub"], cwd)
    assert missing.returncode == 1
    assert "no signatures found" in missing.stderr

    wrong_pw = run(
        ["sign", image, "--key", "cosign.key", "--identity", "r.example/app"], cwd, password="nope"
    )
    assert wrong_pw.returncode == 2
    assert "wrong password" in wrong_pw.stderr

    assert run(["sign", image, "--key", "cosign.key", "--identity", "r.example/app"], cwd).returncode == 0
    run(["key", "generate", "--output-key-prefix", "other"], cwd)
    wrong_key = run(["verify", image, "--key", "other.pub"], cwd)
    assert wrong_key.returncode == 1
    assert "does not verify with any of the given keys" in wrong_key.stderr
    any_of = run(
        ["verify", image, "--key", "other.pub", "--key", "cosign.pub", "--identity", "r.example/app"], cwd
    )
    assert any_of.returncode == 0, any_of.stderr

    mismatch = run(["verify", image, "--key", "cosign.pub", "--identity", "r.example/elsewhere"], cwd)
    assert mismatch.returncode == 1
    assert "docker-reference 'r.example/app' does not match 'r.example/elsewhere'" in mismatch.stderr

    (cwd / "bad.pub").write_text("-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n")
    bad_pem = run(["verify", image, "--key", "bad.pub"], cwd)
    assert bad_pem.returncode == 2
    assert "not valid base64" in bad_pem.stderr
    assert "Traceback" not in bad_pem.stderr

    no_identity = run(["sign", image, "--key", "cosign.key"], cwd)
    assert no_identity.returncode == 2
    assert "--identity" in no_identity.stderr


def test_keyless_flags_come_together(workdir: tuple[Path, BuiltImage]) -> None:
    cwd, built = workdir
    partial = run(["verify", f"oci:{built.layout}:v1", "--certificate-identity", "dev@example.com"], cwd)
    assert partial.returncode == 2
    assert "--certificate-oidc-issuer and --trusted-root" in partial.stderr
    nothing = run(["verify", f"oci:{built.layout}:v1"], cwd)
    assert nothing.returncode == 2
    assert "--key" in nothing.stderr
