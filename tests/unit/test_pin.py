"""imgsec.pin: finds every image string and rewrites only those bytes.

The resolver here is a plain function returning a fixed digest: what is tested is where the text
changes, checked against PyYAML's own reading of the result and BuildKit's parse of the rewritten file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from imgsec.errors import InputError
from imgsec.lint.parse import parse_dockerfile
from imgsec.pin import detect_kind, pin_text, read_input, write_atomic
from imgsec.reference import Reference

DIGEST = "sha256:" + "ab" * 32


def fixed(ref: Reference) -> str:
    assert ref.digest is None
    return DIGEST


MANIFEST = """\
# deploy.yaml: comments and odd spacing must survive
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image:   'busybox:1.36'   # single-quoted, extra spaces
      containers:
        - name: web
          image: "nginx:1.25"  # double-quoted
        - {name: side, image: reg.example:5000/team/side}
      ephemeralContainers:
        - name: dbg
          image: alpine@sha256:%s
---
apiVersion: batch/v1
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: &img debian:12
          - image: *img
---
kind: List
items:
  - kind: Pod
    spec: {containers: [{image: !!str "ghcr.io/a/b:v1"}]}
  - kind: ConfigMap
    data: {image: "not-an-image:1"}
""" % ("cd" * 32)


def _images(text: str) -> list[str]:
    out: list[str] = []
    for doc in yaml.safe_load_all(text):
        objs = doc["items"] if doc["kind"] == "List" else [doc]
        for obj in objs:
            spec = obj.get("spec", {})
            if obj["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]["template"]["spec"]
            elif obj["kind"] == "Deployment":
                spec = spec["template"]["spec"]
            for key in ("initContainers", "containers", "ephemeralContainers"):
                out.extend(c["image"] for c in spec.get(key, []))
    return out


def test_yaml_only_image_bytes_change() -> None:
    outcome = pin_text(MANIFEST, "yaml", "deploy.yaml", fixed)
    before, after = _images(MANIFEST), _images(outcome.rewritten)
    assert len(before) == len(after) == 7
    for old, new in zip(before, after, strict=True):
        if "@" in old:
            assert new == old
        elif ":" in old.rsplit("/", 1)[-1]:
            assert new == f"{old}@{DIGEST}"
        else:
            assert new == f"{old}:latest@{DIGEST}"
    # Everything but the image strings is byte-identical: undo the rewrite and compare.
    undone = outcome.rewritten
    for old in dict.fromkeys(before):
        if "@" not in old:
            tagged = old if ":" in old.rsplit("/", 1)[-1] else old + ":latest"
            undone = undone.replace(f"{tagged}@{DIGEST}", old)
    assert undone == MANIFEST
    assert "'busybox:1.36@" in outcome.rewritten and '"nginx:1.25@' in outcome.rewritten
    assert 'not-an-image:1"' in outcome.rewritten  # a ConfigMap is not a workload
    statuses = {r.old: r.status for r in outcome.results}
    assert statuses["alpine@sha256:" + "cd" * 32] == "ok"
    assert statuses["debian:12"] == "pinned"
    lines = MANIFEST.splitlines()
    for r in outcome.results:
        assert r.old in lines[r.line - 1]


def test_check_mode_reports_without_resolving() -> None:
    outcome = pin_text(MANIFEST, "yaml", "deploy.yaml", None)
    assert not outcome.changed
    assert sorted(r.status for r in outcome.results).count("unpinned") == 5


DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG GO=1.22
ARG BASE=debian
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
FROM  golang:1.22-alpine   AS   tools  # not a comment in Docker, but a stage name
FROM build AS again
FROM scratch AS empty
FROM \\
  # golang:1.22 in a comment inside a continuation
  --platform=linux/amd64 \\
  golang:1.22 AS cont
from registry.example:5000/base/img
FROM docker.io/library/alpine:3.19@sha256:%s
""" % ("ef" * 32)


def test_dockerfile_from_lines(tmp_path: Path) -> None:
    text = DOCKERFILE.replace("  # not a comment in Docker, but a stage name", "")
    outcome = pin_text(text, "dockerfile", "Dockerfile", fixed)
    df = parse_dockerfile(outcome.rewritten)
    bases = [s.base_text for s in df.stages]
    assert bases == [
        "golang:${GO}",
        f"golang:1.22-alpine@{DIGEST}",
        "build",
        "scratch",
        f"golang:1.22@{DIGEST}",
        f"registry.example:5000/base/img:latest@{DIGEST}",
        "docker.io/library/alpine:3.19@sha256:" + "ef" * 32,
    ]
    assert "# golang:1.22 in a comment inside a continuation" in outcome.rewritten
    assert [s.name for s in df.stages] == ["build", "tools", "again", "empty", "cont", None, None]
    skipped = [r for r in outcome.results if r.status == "skipped"]
    assert [r.old for r in skipped] == ["golang:${GO}"] and skipped[0].line == 4
    assert any("ARG" in w for w in outcome.warnings)
    # Re-pinning is a no-op: everything is pinned already.
    again = pin_text(outcome.rewritten, "dockerfile", "Dockerfile", None)
    assert not again.changed
    assert {r.status for r in again.results} == {"ok", "skipped"}


def test_crlf_and_bom_preserved(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_bytes(b"\xef\xbb\xbfkind: Pod\r\nspec:\r\n  containers:\r\n  - image: nginx:1\r\n")
    text, bom = read_input(path, "yaml")
    outcome = pin_text(text, "yaml", "pod.yaml", fixed, bom=bom)
    assert outcome.encoded() == (
        b"\xef\xbb\xbfkind: Pod\r\nspec:\r\n  containers:\r\n  - image: nginx:1@" + DIGEST.encode() + b"\r\n"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("kind: Pod\nspec:\n  containers:\n  - image: |\n      nginx:1\n", "block scalar"),
        ('kind: Pod\nspec:\n  containers:\n  - image: "ngin\\x78:1"\n', "escapes"),
    ],
)
def test_unsafe_scalars_are_skipped_not_mangled(text: str, reason: str) -> None:
    outcome = pin_text(text, "yaml", "p.yaml", fixed)
    assert not outcome.changed
    assert outcome.results[0].status == "skipped" and reason in (outcome.results[0].detail or "")


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("yaml", b"kind: Pod\nspec: [\n", "not valid YAML at line"),
        ("yaml", b"[" * 20000, "YAML"),
        ("yaml", b"kind: Pod\x00\n", "NUL byte at line 1"),
        ("yaml", b"kind: \xff\n", "invalid UTF-8 at line 1"),
        ("yaml", b"a: " + b"x" * (9 * 1024 * 1024), "larger than"),
        ("dockerfile", b"FROM\n", "FROM"),
        ("dockerfile", b"RUN true\n", "before the first FROM"),
        ("yaml", b"kind: Pod\nspec: {containers: [{image: 'UPPER/Case:1'}]}\n", "line 2"),
    ],
)
def test_hostile_input_one_clear_error(tmp_path: Path, kind: str, data: bytes, message: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        text, _bom = read_input(path, kind)  # type: ignore[arg-type]
        pin_text(text, kind, "f", fixed)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_alias_bomb_is_cheap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "kind: Pod\n" + "\n".join(lines) + "\nspec: {containers: [{image: *a8}]}\n"
    outcome = pin_text(text, "yaml", "bomb.yaml", fixed)
    assert outcome.results[0].status == "skipped" and not outcome.changed


def test_detect_kind() -> None:
    assert detect_kind("Dockerfile", b"") == "dockerfile"
    assert detect_kind("build/app.Dockerfile", b"") == "dockerfile"
    assert detect_kind("Containerfile.dev", b"") == "dockerfile"
    assert detect_kind("deploy.yml", b"FROM x\n") == "yaml"
    assert detect_kind("-", b"# syntax=x\n\nARG A\nFROM a\n") == "dockerfile"
    assert detect_kind("-", b"# c\nkind: Pod\n") == "yaml"


def test_write_atomic_keeps_mode_and_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_bytes(b"old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "real.yaml"]


def test_check_mode_verifies_existing_pins_only() -> None:
    asked: list[str] = []

    def moved(ref: Reference) -> str:
        asked.append(str(ref))
        return DIGEST

    text = "FROM a:1@sha256:" + "00" * 32 + "\nFROM b:2\nFROM c@sha256:" + "11" * 32 + "\n"
    outcome = pin_text(text, "dockerfile", "Dockerfile", moved, check=True)
    assert [r.status for r in outcome.results] == ["drift", "unpinned", "ok"]
    assert asked == ["docker.io/library/a:1"] and not outcome.changed
