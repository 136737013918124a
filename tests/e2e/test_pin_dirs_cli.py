"""``imgsec pin DIR [-R]`` as a user runs it, without a registry (``--check --offline``, ``--diff``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

IMGSEC = str(Path(sys.executable).parent / "imgsec")
PINNED = "alpine:3.19@sha256:" + "ab" * 32


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMGSEC, "pin", *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _tree(tmp_path: Path, *, pinned: bool) -> Path:
    root = tmp_path / "k8s"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "pod.yaml").write_text("kind: Pod\nspec:\n  containers:\n  - image: nginx:1.25\n")
    image = PINNED if pinned else "alpine:3.19"
    (root / "apps" / "web").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "Dockerfile").write_text(f"FROM {image}\n")
    (root / "README.md").write_text("FROM alpine:3.19\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "pod.yaml").write_text(f"kind: Pod\nspec:\n  containers:\n  - image: {image}\n")
    (root / "apps" / "web" / "deploy.yml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
        f"      containers:\n      - image: '{image}'\n"
    )
    (root / "apps" / "svc.json").write_text('{"apiVersion": "v1", "kind": "Service", "spec": {}}\n')
    (root / ".git" / "Dockerfile").write_text("FROM nginx:1.25\n")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    return root


def test_check_top_level_then_recursive(tmp_path: Path) -> None:
    root = _tree(tmp_path, pinned=False)
    before = _snapshot(tmp_path)
    top = _run([str(root), "--check", "--offline", "-f", "json"])
    assert top.returncode == 1, top.stderr
    assert [(r["file"], r["status"]) for r in json.loads(top.stdout)] == [
        (f"{root}/Dockerfile", "unpinned"),
        (f"{root}/pod.yaml", "unpinned"),
    ]
    deep = _run(["k8s", "-R", "--check", "--offline", "-f", "json"], cwd=tmp_path)
    assert deep.returncode == 1, deep.stderr
    assert [(r["file"], r["line"], r["old"]) for r in json.loads(deep.stdout)] == [
        ("k8s/Dockerfile", 1, "alpine:3.19"),
        ("k8s/apps/web/deploy.yml", 7, "alpine:3.19"),
        ("k8s/pod.yaml", 4, "alpine:3.19"),
    ]
    assert _snapshot(tmp_path) == before
    assert "elsewhere" not in deep.stdout + deep.stderr and "nginx" not in deep.stdout


def test_check_passes_over_a_pinned_tree(tmp_path: Path) -> None:
    _tree(tmp_path, pinned=True)
    proc = _run(["k8s", "--recursive", "--check", "--offline", "-f", "table"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.lstrip().startswith("k8s/")]
    assert [(r[0], r[4]) for r in rows] == [
        ("k8s/Dockerfile", "ok"),
        ("k8s/apps/web/deploy.yml", "ok"),
        ("k8s/pod.yaml", "ok"),
    ]


def test_bad_file_in_directory_does_not_stop_others(tmp_path: Path) -> None:
    root = _tree(tmp_path, pinned=False)
    (root / "apps" / "broken.yaml").write_text("kind: Pod\nspec: {containers: [\n")
    proc = _run([str(root), "-R", "--check", "--offline", "-f", "json"])
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("imgsec: error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"imgsec: error: {root}/apps/broken.yaml: not valid YAML at line ")
    assert len(json.loads(proc.stdout)) == 3
    assert "Traceback" not in proc.stderr


def test_directory_without_candidates_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "docs"
    (empty / "sub").mkdir(parents=True)
    (empty / "README.md").write_text("# nothing to pin\n")
    (empty / "sub" / "pod.yaml").write_text("kind: Pod\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM alpine:3.19\n")
    proc = _run([str(dockerfile), str(empty), "--check", "--offline"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(empty) in lines[0] and "-R" in lines[0]
    assert proc.stdout == ""  # refused before anything was read or resolved
    assert _run([str(empty), "-R", "--check", "--offline"]).returncode == 0  # a Pod without images
    assert _run([str(empty), "-R", "--kind", "dockerfile", "--check", "--offline"]).returncode == 2


def test_file_named_and_inside_directory_is_pinned_once(tmp_path: Path) -> None:
    root = _tree(tmp_path, pinned=False)
    os.symlink("pod.yaml", root / "again.yaml")
    proc = _run([str(root / "pod.yaml"), str(root), "--check", "--offline", "-f", "json"])
    assert proc.returncode == 1
    files = [r["file"] for r in json.loads(proc.stdout)]
    assert files == [str(root / "pod.yaml"), str(root / "Dockerfile")]
