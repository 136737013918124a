"""``imgsec pin`` as a user runs it, without a registry: --check, --diff, stdin, bad input, exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

IMGSEC = str(Path(sys.executable).parent / "imgsec")
PINNED = "alpine:3.19@sha256:" + "ab" * 32


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMGSEC, "pin", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_check_lists_unpinned_and_writes_nothing(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text(f"FROM {PINNED} AS base\nFROM base\nFROM scratch\nFROM nginx:1.25\n")
    before = df.read_bytes()
    proc = _run([str(df), "--check", "--offline", "-f", "json"])
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["line"], r["old"], r["status"]) for r in rows] == [
        (1, PINNED, "ok"),
        (4, "nginx:1.25", "unpinned"),
    ]
    assert df.read_bytes() == before


def test_check_passes_when_all_digest_pinned_offline(tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(f"kind: Pod\nspec:\n  containers:\n  - image: alpine@sha256:{'cd' * 32}\n")
    proc = _run([str(pod), "--check", "--offline", "-f", "table"])
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_stdin_and_arg_warning(tmp_path: Path) -> None:
    text = "ARG V=1\nFROM alpine:${V}\n"
    proc = _run(["-", "--check"], stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert "-:2: alpine:${V}: not pinned" in proc.stderr and "ARG" in proc.stderr


def test_unreachable_registry_exit_3_no_write(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    df = tmp_path / "Dockerfile"
    text = f"FROM 127.0.0.1:{port}/app:1\n"
    df.write_text(text)
    proc = _run([str(df), "--insecure"])
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and df.read_text() == text
    diff = _run([str(df), "--diff", "--insecure"])
    assert diff.returncode == 3 and diff.stdout == ""


def test_bad_files_one_line_each_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nspec: {containers: [\n")
    good = tmp_path / "good.yaml"
    good.write_text(f"kind: Pod\nspec: {{containers: [{{image: '{PINNED}'}}]}}\n")
    proc = _run([str(bad), str(tmp_path / "missing.yaml"), str(good), "--check", "--offline", "-f", "json"])
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("imgsec: error:")]
    assert len(errors) == 2 and "bad.yaml" in errors[0] and "missing.yaml" in errors[1]
    assert json.loads(proc.stdout)[0]["old"] == PINNED
    assert "Traceback" not in proc.stderr


def test_usage_errors() -> None:
    assert _run(["-", "--check", "--diff"], stdin="FROM a\n").returncode == 2
    assert _run(["-", "--password-stdin", "--username", "u"], stdin="x\n").returncode == 2
