"""imgsec.pin.scan_directory: which files ``imgsec pin DIR [-R]`` pins, in which order.

The expected lists follow ``kubectl apply -f DIR [-R]`` (``*.yaml``, ``*.yml``, ``*.json``; top level
only without ``-R``; Go's ``filepath.Walk`` order: names in byte order, a directory's contents where
the directory sorts) plus the Dockerfile names ``imgsec lint`` walks for, and the guards the
command documents (hidden entries, symlinked directories, special files).
"""

from __future__ import annotations

import os
from pathlib import Path

from imgsec.pin import candidate_kind, scan_directory


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    (outside / "k8s").mkdir(parents=True)
    (outside / "k8s" / "pod.yaml").write_text("kind: Pod\n")
    (outside / "secret.yaml").write_text("kind: Secret\n")
    files = {
        "Dockerfile": "FROM alpine:3.19\n",
        "Dockerfile.dockerignore": "node_modules\n",
        "README.md": "# FROM alpine\n",
        "app.dockerfile": "FROM debian:12\n",
        "deploy.yaml": "kind: Deployment\n",
        "notes.txt": "FROM x\n",
        "svc.json": "{}\n",
        ".hidden.yaml": "kind: Pod\n",
        ".git/config.yaml": "kind: Pod\n",
        ".git/Dockerfile": "FROM x\n",
        "node_modules/pkg/pod.yaml": "kind: Pod\n",
        "sub/Containerfile": "FROM fedora:40\n",
        "sub/k8s.yml": "kind: Pod\n",
        "sub/deeper/cron.yaml": "kind: CronJob\n",
        "sub/.cache/x.yaml": "kind: Pod\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "blob.yaml.gz").write_bytes(b"\x1f\x8b\x08\x00")
    os.mkfifo(root / "fifo.yaml")  # opening it would block forever
    (root / "outside").symlink_to(outside / "k8s", target_is_directory=True)
    (root / "outside.yaml").symlink_to(outside / "secret.yaml")
    (root / "alias.yaml").symlink_to("deploy.yaml")  # same file as deploy.yaml: pinned once
    (root / "shortcut.yml").symlink_to("sub/k8s.yml")  # only reachable this way without -R
    (root / "loop.yaml").symlink_to("loop.yaml")
    (root / "dangling.yaml").symlink_to("missing.yaml")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)  # a cycle, never followed
    return root


def _names(root: Path, *, recursive: bool, kind: str | None = None) -> list[tuple[str, str]]:
    scan = scan_directory(root, recursive=recursive, kind=kind)  # type: ignore[arg-type]
    assert scan.errors == ()
    return [(p.relative_to(root).as_posix(), k) for p, k in scan.files]


def test_top_level_only_without_recursive(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert _names(root, recursive=False) == [
        ("Dockerfile", "dockerfile"),
        ("app.dockerfile", "dockerfile"),
        ("deploy.yaml", "yaml"),
        ("shortcut.yml", "yaml"),
        ("svc.json", "yaml"),
    ]
    assert scan_directory(root, recursive=False).has_subdirectories


def test_recursive_walk_order_and_guards(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert _names(root, recursive=True) == [
        ("Dockerfile", "dockerfile"),
        ("app.dockerfile", "dockerfile"),
        ("deploy.yaml", "yaml"),
        ("sub/Containerfile", "dockerfile"),
        ("sub/deeper/cron.yaml", "yaml"),
        ("sub/k8s.yml", "yaml"),
        ("svc.json", "yaml"),
    ]


def test_kind_filter(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert [n for n, _ in _names(root, recursive=True, kind="dockerfile")] == [
        "Dockerfile",
        "app.dockerfile",
        "sub/Containerfile",
    ]


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    link = tmp_path / "link-to-repo"
    link.symlink_to(root, target_is_directory=True)
    scan = scan_directory(link, recursive=False)
    assert [p.name for p, _ in scan.files] == [
        "Dockerfile",
        "app.dockerfile",
        "deploy.yaml",
        "shortcut.yml",
        "svc.json",
    ]
    assert all(str(p).startswith(str(link)) for p, _ in scan.files)


def test_unreadable_subdirectory_is_an_error_not_a_stop(tmp_path: Path) -> None:
    # A tree deeper than PATH_MAX (4096 bytes) cannot be listed by path, even by root (ENAMETOOLONG).
    root = tmp_path / "r"
    (root / "b").mkdir(parents=True)
    (root / "b" / "pod.yaml").write_text("kind: Pod\n")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    part = "d" * 250
    try:
        for _ in range(18):
            os.mkdir(part, dir_fd=fd)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        with open(os.open("deep.yaml", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
            fh.write("kind: Pod\n")
    finally:
        os.close(fd)
    scan = scan_directory(root, recursive=True)
    assert [p.relative_to(root).as_posix() for p, _ in scan.files] == ["b/pod.yaml"]
    [(bad, message)] = scan.errors
    assert len(str(bad)) > 4096 and "cannot read directory" in message


def test_candidate_names() -> None:
    for name in (
        "Dockerfile",
        "dockerfile",
        "Dockerfile.prod",
        "api.Dockerfile",
        "Containerfile",
        "Dockerfile-dev",
    ):
        assert candidate_kind(name) == "dockerfile", name
    for name in ("a.yaml", "b.YML", "c.json", "Dockerfile.yaml"):
        assert candidate_kind(name) == "yaml", name
    for name in (
        "Dockerfile.dockerignore",
        "README.md",
        "Makefile",
        "values.yaml.tpl",
        "dockerfiles",
        "x.jsonl",
    ):
        assert candidate_kind(name) is None, name
