"""``imgsec registry login|logout|check`` run as a user runs them, against real registries."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers.registry import RegistryServer, build_layout, skopeo_push

pytestmark = pytest.mark.integration
IMGSEC = str(Path(sys.executable).parent / "imgsec")


def run(args: list[str], home: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"HOME": str(home), "PATH": "/usr/bin:/bin", **env}
    return subprocess.run(
        [IMGSEC, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=60, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_login_check_logout_over_tls(registry_auth_tls: RegistryServer, home: Path, tmp_path: Path) -> None:
    server = registry_auth_tls
    assert server.username and server.password and server.ca_cert
    built = build_layout(tmp_path / "layout")
    image = skopeo_push(built, server, f"team/cli-{uuid.uuid4().hex[:8]}")
    ca = ["--ca-cert", str(server.ca_cert)]

    done = run(
        ["registry", "login", server.host, "--username", server.username, "--password-stdin", *ca],
        home,
        stdin=server.password + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Login Succeeded" in done.stdout
    config = home / ".docker" / "config.json"
    entry = json.loads(config.read_text())["auths"][server.host]
    assert base64.b64decode(entry["auth"]).decode() == f"{server.username}:{server.password}"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert server.password not in done.stdout + done.stderr

    checked = run(["registry", "check", image, "--format", "json", *ca], home)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert report["reachable"] is True and report["scheme"] == "https" and report["tls_verified"] is True
    assert report["auth"] == "basic"
    assert report["authenticated"] is True
    assert report["digest"] == built.top_digest
    assert report["referrers_api"] is False  # docker-registry 2.8 has none
    assert server.password not in checked.stdout

    out = run(["registry", "logout", server.host], home)
    assert out.returncode == 0
    assert server.host not in json.loads(config.read_text())["auths"]

    denied = run(["registry", "check", image, "--format", "json", *ca], home)
    assert denied.returncode == 2
    assert json.loads(denied.stdout)["ok"] is False
    assert "imgsec registry login" in denied.stderr


def test_login_with_wrong_password_saves_nothing(registry_auth_tls: RegistryServer, home: Path) -> None:
    server = registry_auth_tls
    assert server.username and server.ca_cert
    done = run(
        [
            "registry",
            "login",
            server.host,
            "--username",
            server.username,
            "--password-stdin",
            "--ca-cert",
            str(server.ca_cert),
        ],
        home,
        stdin="not-the-password\n",
    )
    assert done.returncode == 2
    assert "not-the-password" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (home / ".docker" / "config.json").exists()


def test_login_to_token_registry_writes_registry_auth_file(
    registry_token: RegistryServer, home: Path, tmp_path: Path
) -> None:
    server = registry_token
    assert server.username and server.password
    auth_file = tmp_path / "containers" / "auth.json"
    done = run(
        ["registry", "login", server.host, "--username", server.username, "--password-stdin", "--insecure"],
        home,
        stdin=server.password,
        REGISTRY_AUTH_FILE=str(auth_file),
    )
    assert done.returncode == 0, done.stderr
    assert server.host in json.loads(auth_file.read_text())["auths"]
    built = build_layout(tmp_path / "layout")
    image = skopeo_push(built, server, f"team/tok-{uuid.uuid4().hex[:8]}")
    checked = run(
        ["registry", "check", image, "-f", "json", "--insecure"], home, REGISTRY_AUTH_FILE=str(auth_file)
    )
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["auth"] == "bearer" and report["authenticated"] is True
    assert report["digest"] == built.top_digest

    bad = run(
        ["registry", "login", server.host, "--username", server.username, "--password-stdin", "--insecure"],
        home,
        stdin="wrong",
        REGISTRY_AUTH_FILE=str(tmp_path / "other.json"),
    )
    assert bad.returncode == 2
    assert not (tmp_path / "other.json").exists()


def test_check_plain_http_registry(registry_plain: RegistryServer, home: Path) -> None:
    refused = run(["registry", "check", registry_plain.host, "--format", "json"], home)
    assert refused.returncode == 3
    report = json.loads(refused.stdout)
    assert report["reachable"] is False
    assert "--insecure" in report["error"]

    allowed = run(["registry", "check", registry_plain.host, "--format", "json", "--insecure"], home)
    assert allowed.returncode == 0, allowed.stderr
    report = json.loads(allowed.stdout)
    assert report["scheme"] == "http" and report["auth"] == "none" and report["ok"] is True

    table = run(["registry", "check", registry_plain.host, "--format", "table", "--insecure"], home)
    assert table.returncode == 0
    assert "reachable" in table.stdout and "ok" in table.stdout


def test_login_usage_errors(home: Path) -> None:
    no_stdin_flag = run(["registry", "login", "r.example.com", "--username", "u"], home)
    assert no_stdin_flag.returncode == 2
    assert "--password-stdin" in no_stdin_flag.stderr
    no_user = run(["registry", "login", "r.example.com", "--password-stdin"], home, stdin="pw\n")
    assert no_user.returncode == 2
    assert "--username" in no_user.stderr
