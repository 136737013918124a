"""Per-layer results cached by diff_id, so re-scanning an image (or another image sharing its base
layers) skips every unchanged layer.

One JSON file per layer under ``<cache-dir>/layers/``, holding the layer's route-independent facts
(whiteouts, opaque dirs, links, directory modes) and each route's results.  ``CACHE_SCHEMA`` is
part of every entry's file name and content: bumping it when the entry format changes makes old
entries plain misses, never misread.  Writes go to a temporary file that is
atomically renamed, so concurrent scans never see half a file and never wait for a lock (the last
writer wins; a lost merge only costs a later miss).  Decoding rebuilds only allowlisted dataclasses
and enums: a cache file can never make imgsec import or call anything else.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from imgsec import __version__
from imgsec.image.layers import LayerResult

log = logging.getLogger(__name__)

#: 2: ``common.dir_modes`` (every directory entry and its mode) added.
CACHE_SCHEMA = 2
_MAX_CACHE_FILE = 512 * 1024 * 1024

#: Everything a route may return, by "module:qualname".  Nothing else is ever rebuilt.
ALLOWED_TYPES = frozenset(
    {
        "imgsec.sbom.model:Package",
        "imgsec.sbom.model:Location",
        "imgsec.sbom.model:PackageType",
        "imgsec.findings:Severity",
        "imgsec.secrets.model:SecretMatch",
        "imgsec.image.config_checks:ModeFact",
        "imgsec.image.config_checks:PasswdFact",
    }
)


class _Uncacheable(TypeError):
    pass


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _encode(obj: Any) -> Any:
    if isinstance(obj, Enum):  # before str: StrEnum members are strings too
        name = _type_name(obj)
        if name not in ALLOWED_TYPES:
            raise _Uncacheable(name)
        return {"enum": name, "name": obj.name}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes):
        return {"b64": base64.b64encode(obj).decode()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = _type_name(obj)
        if name not in ALLOWED_TYPES:
            raise _Uncacheable(name)
        return {"dc": name, "f": {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    raise _Uncacheable(type(obj).__name__)


def _resolve(name: str) -> Any:
    if name not in ALLOWED_TYPES:
        raise ValueError(f"type {name!r} is not allowed in the layer cache")
    module, _, qualname = name.partition(":")
    return getattr(importlib.import_module(module), qualname)


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_decode(v) for v in obj)
    if isinstance(obj, dict):
        if "b64" in obj:
            return base64.b64decode(obj["b64"], validate=True)
        if "enum" in obj:
            return _resolve(obj["enum"])[obj["name"]]
        if "dc" in obj:
            cls = _resolve(obj["dc"])
            return cls(**{k: _decode(v) for k, v in obj["f"].items()})
        raise ValueError("unknown object in the layer cache")
    return obj


def _dir_modes(raw: Any) -> dict[str, int]:
    """``path -> mode`` from a cache file: strings to permission bits, anything else is malformed."""
    if not isinstance(raw, dict):
        raise TypeError("dir_modes is not an object")
    out: dict[str, int] = {}
    for path, mode in raw.items():
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
            raise ValueError(f"directory mode of {path[:80]!r} is not a permission mode")
        out[path] = mode
    return out


class LayerCache:
    """Route results per layer diff_id, shared by every scan that uses the same cache directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, diff_id: str) -> Path:
        key = hashlib.sha256(f"{CACHE_SCHEMA}:{__version__}:{diff_id}".encode()).hexdigest()
        return self.directory / key[:2] / f"{key}.json"

    def _load(self, diff_id: str) -> dict[str, Any] | None:
        path = self._path(diff_id)
        try:
            if path.stat().st_size > _MAX_CACHE_FILE:
                return None
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.debug("layer cache %s unreadable (%s); ignoring it", path, exc)
            return None
        if not isinstance(doc, dict) or doc.get("diff_id") != diff_id or doc.get("schema") != CACHE_SCHEMA:
            return None
        return doc

    def has(self, diff_id: str) -> bool:
        """Whether some result for this layer is stored (cheap: no read, no validation)."""
        return self._path(diff_id).is_file()

    def get(self, diff_id: str, route_names: Sequence[str]) -> LayerResult | None:
        """The cached result for these routes, or None if any route is missing."""
        doc = self._load(diff_id)
        if doc is None:
            return None
        routes = doc.get("routes", {})
        if not all(name in routes for name in route_names):
            return None
        try:
            common = doc["common"]
            return LayerResult(
                layer=diff_id,
                results={
                    name: {p: list(_decode(v)) for p, v in routes[name].items()} for name in route_names
                },
                whiteouts=set(common["whiteouts"]),
                opaque_dirs=set(common["opaque_dirs"]),
                non_dirs=set(common["non_dirs"]),
                symlinks=dict(common["symlinks"]),
                files=int(common["files"]),
                skipped=list(common["skipped"]),
                dir_modes=_dir_modes(common["dir_modes"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.debug("layer cache entry for %s is malformed (%s); ignoring it", diff_id, exc)
            return None

    def put(self, diff_id: str, result: LayerResult) -> None:
        """Store (merging with routes cached earlier); never fails the scan."""
        try:
            routes = {
                name: {p: _encode(list(v)) for p, v in found.items()}
                for name, found in result.results.items()
            }
        except _Uncacheable as exc:
            log.debug("layer %s not cached: %s results are not cacheable", diff_id, exc)
            return
        old = self._load(diff_id)
        if old is not None:
            routes = {**old.get("routes", {}), **routes}
        doc = {
            "schema": CACHE_SCHEMA,
            "diff_id": diff_id,
            "common": {
                "whiteouts": sorted(result.whiteouts),
                "opaque_dirs": sorted(result.opaque_dirs),
                "non_dirs": sorted(result.non_dirs),
                "symlinks": result.symlinks,
                "files": result.files,
                "skipped": result.skipped,
                "dir_modes": result.dir_modes,
            },
            "routes": routes,
        }
        path = self._path(diff_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".layer-", dir=path.parent)
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(doc, fh, separators=(",", ":"))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("cannot write the layer cache in %s: %s", self.directory, exc.strerror)
