"""``imgsec pin`` against a real ``docker-registry``: digests come from the bytes the helper built."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.registry import BuiltImage, RegistryServer, build_layout, skopeo_push

pytestmark = pytest.mark.integration

IMGSEC = str(Path(sys.executable).parent / "imgsec")


def _run(
    args: list[str], stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMGSEC, "pin", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False, env=env
    )


@pytest.fixture(scope="module")
def pushed(registry_plain: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltImage]:
    base = tmp_path_factory.mktemp("pin-layouts")
    single = build_layout(base / "single", tag="1.0")
    multi = build_layout(base / "multi", tag="2.0", platforms=("linux/amd64", "linux/arm64"))
    skopeo_push(single, registry_plain, "pin/single")
    skopeo_push(multi, registry_plain, "pin/multi")
    return {"single": single, "multi": multi}


def test_pins_dockerfile_and_manifest_in_place(
    registry_plain: RegistryServer,
    pushed: dict[str, BuiltImage],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = registry_plain.host
    single, multi = pushed["single"], pushed["multi"]
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        f"# base\nFROM {host}/pin/single:1.0 AS a\nFROM --platform=linux/arm64 {host}/pin/multi:2.0\n"
    )
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        f"      - image: '{host}/pin/multi:2.0'  # multi-arch\n"
    )
    manifest.chmod(0o600)
    proc = _run([str(dockerfile), str(manifest), "--insecure", "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    # Multi-platform: the index digest (what the tag points to), even with FROM --platform.
    assert dockerfile.read_text() == (
        f"# base\nFROM {host}/pin/single:1.0@{single.top_digest} AS a\n"
        f"FROM --platform=linux/arm64 {host}/pin/multi:2.0@{multi.top_digest}\n"
    )
    assert multi.top_media_type.endswith("index.v1+json")
    assert f"- image: '{host}/pin/multi:2.0@{multi.top_digest}'  # multi-arch\n" in manifest.read_text()
    assert manifest.stat().st_mode & 0o777 == 0o600
    report = json.loads(proc.stdout)
    assert [(r["file"], r["line"], r["status"]) for r in report] == [
        (str(dockerfile), 2, "pinned"),
        (str(dockerfile), 3, "pinned"),
        (str(manifest), 6, "pinned"),
    ]
    assert report[0]["new"] == f"{host}/pin/single:1.0@{single.top_digest}"

    # Now pinned: --check passes and verifies the pins still match their tags.
    again = _run([str(dockerfile), str(manifest), "--insecure", "--check", "-f", "json"])
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads(again.stdout)} == {"ok"}


def test_platform_option_pins_that_platform_manifest(
    registry_plain: RegistryServer, pushed: dict[str, BuiltImage]
) -> None:
    multi = pushed["multi"]
    text = f"FROM {registry_plain.host}/pin/multi:2.0\n"
    proc = _run(["-", "--insecure", "--platform", "linux/arm64", "-q"], stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"FROM {registry_plain.host}/pin/multi:2.0@{multi.platforms['linux/arm64'][0]}\n"


def test_drift_is_reported_and_pin_kept(
    registry_plain: RegistryServer, pushed: dict[str, BuiltImage], tmp_path: Path
) -> None:
    stale = "sha256:" + "0" * 64
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {registry_plain.host}/pin/single:1.0@{stale}\n"
    path = tmp_path / "pod.yaml"
    path.write_text(text)
    proc = _run([str(path), "--insecure", "--check", "-f", "json"])
    assert proc.returncode == 1
    [row] = json.loads(proc.stdout)
    assert row["status"] == "drift" and pushed["single"].top_digest in row["detail"]
    assert "drift" in proc.stderr or pushed["single"].top_digest in proc.stderr
    write = _run([str(path), "--insecure", "-f", "json"])
    assert write.returncode == 0
    assert path.read_text() == text


def test_missing_tag_fails_file_without_partial_write(
    registry_plain: RegistryServer, pushed: dict[str, BuiltImage], tmp_path: Path
) -> None:
    host = registry_plain.host
    text = f"FROM {host}/pin/single:1.0\nFROM {host}/pin/single:nope\n"
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    proc = _run([str(path), "--insecure"])
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "not found" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text() == text


def test_auth_tls_registry_with_username_password_stdin(
    registry_auth_tls: RegistryServer, tmp_path: Path
) -> None:
    image = build_layout(tmp_path / "layout", tag="v1")
    skopeo_push(image, registry_auth_tls, "pin/private")
    assert registry_auth_tls.ca_cert is not None and registry_auth_tls.password is not None
    path = tmp_path / "pod.yaml"
    path.write_text(
        f'kind: Pod\nspec:\n  containers:\n  - image: "{registry_auth_tls.host}/pin/private:v1"\n'
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "docker")}
    no_creds = _run([str(path), "--ca-cert", str(registry_auth_tls.ca_cert)], env=env)
    assert no_creds.returncode == 2, no_creds.stderr
    proc = _run(
        [
            str(path),
            "--ca-cert",
            str(registry_auth_tls.ca_cert),
            "--username",
            str(registry_auth_tls.username),
            "--password-stdin",
        ],
        stdin=registry_auth_tls.password + "\n",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert registry_auth_tls.password not in proc.stderr + proc.stdout
    assert path.read_text().endswith(f'/pin/private:v1@{image.top_digest}"\n')


def _tree_files(host: str) -> dict[str, str]:
    single, multi = f"{host}/pin/single:1.0", f"{host}/pin/multi:2.0"
    return {
        "Dockerfile": f"# syntax=docker/dockerfile:1\nFROM {single} AS build\nFROM {multi}\n",
        "README.md": f"FROM {single}\n",
        "deploy/rollout.yaml": (
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: demo}\nspec:\n"
            "  template:\n    spec:\n      containers:\n"
            f"      - name: demo\n        image: {multi}   # blue\n"
        ),
        "deploy/knative.yml": (
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n"
            f'  template:\n    spec:\n      containers:\n        - image: "{single}"\n'
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: plain\nspec:\n  ports: [{port: 80}]\n"
        ),
        "deploy/ci/task.yaml": (
            "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  steps:\n"
            f"    - name: build\n      image: {single}\n  sidecars:\n    - image: {multi}\n"
        ),
        "deploy/ci/workflow.json": (
            '{\n\t"apiVersion": "argoproj.io/v1alpha1",\n\t"kind": "Workflow",\n\t"spec": {"templates": [\n'
            f'\t\t{{"name": "a", "container": {{"image": "{single}"}}}},\n'
            f'\t\t{{"name": "b", "script": {{"image": "{multi}", "source": "true"}}}}\n\t]}}\n}}\n'
        ),
        "deploy/ci/dc.yaml": (
            "apiVersion: apps.openshift.io/v1\nkind: DeploymentConfig\nspec:\n  template:\n    spec:\n"
            f"      containers:\n      - image: {single}\n"
        ),
        ".git/Dockerfile": f"FROM {single}\n",
    }


def test_pin_directory_tree_recursive(
    registry_plain: RegistryServer, pushed: dict[str, BuiltImage], tmp_path: Path
) -> None:
    host = registry_plain.host
    single, multi = f"{host}/pin/single:1.0", f"{host}/pin/multi:2.0"
    pins = {single: f"{single}@{pushed['single'].top_digest}", multi: f"{multi}@{pushed['multi'].top_digest}"}
    root = tmp_path / "repo"
    files = _tree_files(host)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    outside = tmp_path / "outside"
    outside.mkdir()
    outside_pod = f"kind: Pod\nspec:\n  containers:\n  - image: {single}\n"
    (outside / "pod.yaml").write_text(outside_pod)
    (root / "deploy" / "shared").symlink_to(outside, target_is_directory=True)

    def expected(name: str) -> str:
        text = files[name]
        if name in ("README.md", ".git/Dockerfile"):
            return text
        for image in (single, multi):
            text = text.replace(image, pins[image])
        return text

    # --diff: the whole tree's diff on stdout, nothing written.
    diff = _run([str(root), "-R", "--insecure", "--diff", "-q"])
    assert diff.returncode == 0, diff.stderr
    assert {line[6:] for line in diff.stdout.splitlines() if line.startswith("+++ ")} == {
        str(root / n) for n in files if expected(n) != files[n]
    }
    assert all((root / n).read_text() == t for n, t in files.items())

    # Without -R only the top level; then -R pins everything below, in walk order.
    top = _run([str(root), "--insecure", "-f", "json"])
    assert top.returncode == 0, top.stderr
    assert {r["file"] for r in json.loads(top.stdout)} == {str(root / "Dockerfile")}
    assert (root / "Dockerfile").read_text() == expected("Dockerfile")
    assert (root / "deploy" / "rollout.yaml").read_text() == files["deploy/rollout.yaml"]

    proc = _run([str(root), "-R", "--insecure", "-f", "json"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    order = ["Dockerfile", "deploy/ci/dc.yaml", "deploy/ci/task.yaml", "deploy/ci/workflow.json"]
    order += ["deploy/knative.yml", "deploy/rollout.yaml"]
    assert list(dict.fromkeys(r["file"] for r in report)) == [str(root / n) for n in order]
    assert {r["status"] for r in report} == {"ok", "pinned"}
    for name in files:
        assert (root / name).read_text() == expected(name), name
    assert (root / "logo.png").read_bytes().startswith(b"\x89PNG")
    assert (outside / "pod.yaml").read_text() == outside_pod  # symlinked directory not followed

    check = _run([str(root), "-R", "--insecure", "--check", "-f", "json"])
    assert check.returncode == 0, check.stderr
    (root / "deploy" / "ci" / "new.yaml").write_text(
        f"kind: Pod\nspec:\n  containers:\n  - image: {single}\n"
    )
    again = _run([str(root), "-R", "--insecure", "--check", "-f", "json"])
    assert again.returncode == 1
    assert [r["file"] for r in json.loads(again.stdout) if r["status"] == "unpinned"] == [
        str(root / "deploy" / "ci" / "new.yaml")
    ]
