"""Where the database lives; kept apart from ``update`` so a scan does not import the importers."""

from __future__ import annotations

from pathlib import Path

from imgsec.config import Config


def db_path(config: Config, cache_dir: Path | None = None) -> Path:
    """``<cache-dir>/db/imgsec.db``."""
    return config.cache_dir(cache_dir) / "db" / "imgsec.db"
