"""Every command answers --help as a user types it, with exit 0 and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

IMGSEC = str(Path(sys.executable).parent / "imgsec")
COMMANDS = [
    [],
    ["sbom"],
    ["scan"],
    ["demo"],
    ["db"],
    ["db", "update"],
    ["db", "status"],
    ["db", "import"],
    ["lint"],
    ["key", "generate"],
    ["sign"],
    ["verify"],
    ["attest"],
    ["verify-attestation"],
    ["registry", "login"],
    ["registry", "check"],
    ["pin"],
    ["db", "push"],
    ["db", "pull"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "imgsec")
def test_help(argv: list[str]) -> None:
    proc = subprocess.run([IMGSEC, *argv, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_version() -> None:
    proc = subprocess.run([IMGSEC, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("imgsec ")


def test_unknown_image_transport_is_a_clear_usage_error() -> None:
    proc = subprocess.run(
        [IMGSEC, "sbom", "Not A Reference"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid image reference" in proc.stderr


def test_output_file_is_written_whole_with_normal_permissions(tmp_path: Path) -> None:
    import os

    out = tmp_path / "rules.json"
    proc = subprocess.run(
        [IMGSEC, "lint", "--list-rules", "-f", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["rules.json"]  # no temporary file left behind
