"""A re-scan reuses per-layer results: it gives the same answer without reading any layer blob."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.e2e.test_scan_cli import env, run

__all__ = ["env"]


def _findings(res_stdout: str) -> list[tuple[str, str, str]]:
    doc = json.loads(res_stdout)
    return sorted((f["id"], f.get("package_name", ""), f.get("path", "")) for f in doc["findings"])


def test_warm_rescan_needs_no_layer_blobs(env: dict[str, Any], tmp_path: Path) -> None:
    layout = Path(env["image"].removeprefix("oci:").rsplit(":", 1)[0])
    copy = tmp_path / "layout"
    shutil.copytree(layout, copy)
    cache = tmp_path / "cache"
    shutil.copytree(env["cache"], cache)
    args = ["scan", f"oci:{copy}:demo", "--cache-dir", str(cache), "--scanners", "vuln,secret", "-f", "json"]
    cold = run(*args)
    assert cold.returncode == 0, cold.stderr
    assert any(f[0].startswith("IS-SEC") for f in _findings(cold.stdout))  # the deleted key is found
    for blob in (copy / "blobs" / "sha256").iterdir():
        if blob.read_bytes()[:2] == b"\x1f\x8b":  # gzip layer blobs
            blob.unlink()
    warm = run(*args)
    assert warm.returncode == 0, warm.stderr
    assert _findings(warm.stdout) == _findings(cold.stdout)
    # --no-cache really reads the layers again: with the blobs gone that must fail, with exit 2.
    fresh = run(*args, "--no-cache")
    assert fresh.returncode == 2
    assert "not found" in fresh.stderr or "blob" in fresh.stderr
