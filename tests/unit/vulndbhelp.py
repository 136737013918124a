"""The real offline mirror and a database built from it, cached across test modules and runs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from imgsec.vulndb.update import build_database
from tests.fixtures._cache import cached_build, prune_cache

VULNDATA = Path(
    os.environ.get("IMGSEC_VULNDATA", Path(__file__).resolve().parents[3] / "shared" / "vulndata")
)
_SRC = Path(__file__).resolve().parents[2] / "src" / "imgsec"


def _builder_key() -> str:
    """Hash of the code that builds the database and of the mirror's own manifest."""
    digest = hashlib.sha256()
    files = [
        *sorted((_SRC / "vulndb").rglob("*.py")),
        _SRC / "match" / "names.py",
        _SRC / "match" / "versions.py",
    ]
    for f in [*files, VULNDATA / "MANIFEST.sha256"]:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def real_db_path() -> Path:
    """``imgsec.db`` built from the real mirror (skips the test when the mirror is absent)."""
    if not VULNDATA.is_dir():
        pytest.skip(f"offline mirror {VULNDATA} not present")
    key = _builder_key()
    prune_cache({"vulndb-real": key})  # databases built by older code are never used again
    entry = cached_build("vulndb-real", key, _build)
    return entry / "imgsec.db"


def _build(tmp: Path) -> None:
    build_database(str(VULNDATA), tmp / "imgsec.db")
