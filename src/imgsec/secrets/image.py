"""Secrets in an image: a layer route over text files, per-layer findings, and the image config.

The route sees every layer's own files, including those a later layer deletes or overwrites, so
a key copied in and removed by the next ``RUN rm`` is still found (it is in the pulled blobs) and
reported with ``deleted=True`` and the diff_id of the layer that holds it.

Which files are read (decided in :func:`wants`, on the path and size alone):

* regular files of 1 byte to 10 MiB; binary content (a NUL in the first 8 KiB) is skipped after
  the first read;
* not distro-owned trees where a match is a packaged test key or documentation, never the image
  author's secret: ``usr/share/``, ``usr/include/``, ``usr/lib/``, ``lib/``, ``usr/local/go/``,
  ``var/lib/dpkg/``, ``var/lib/apt/``, ``var/lib/rpm/``, ``lib/apk/``, ``var/cache/``;
* not test, fixture, example or documentation folders inside third-party package trees
  (``site-packages``, ``dist-packages``, ``node_modules``, ``gems``, ``vendor``); in the rest of
  those trees only token formats and private keys are looked for (JWTs, URLs with credentials
  and ``password = ...`` there are documentation and tests, not the image author's secrets);
* not translation catalogues (``locale/``, ``locales/``, ``.po``);
* not files whose suffix says they are binary or compressed (``.so``, ``.png``, ``.gz``, ``.pyc``,
  ``.jar``, ...).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imgsec.findings import FindingKind
from imgsec.image.layers import LayerResult, squash
from imgsec.image.model import Image
from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.model import Location
from imgsec.secrets.detect import Hit, assignment_hit, find_hits, in_package_tree, to_match
from imgsec.secrets.model import (
    SOURCE_ENV,
    SOURCE_FILE,
    SOURCE_HISTORY,
    SOURCE_LABEL,
    SecretFinding,
    SecretMatch,
    redact,
)

log = logging.getLogger(__name__)

ROUTE_NAME = "secrets"
MAX_FILE_SIZE = 10 * 1024 * 1024
BINARY_PROBE = 8192

_SKIP_PREFIXES = (
    "usr/share/",
    "usr/include/",
    "usr/lib/",
    "lib/",
    "lib32/",
    "lib64/",
    "usr/lib32/",
    "usr/lib64/",
    "usr/libx32/",
    "usr/local/go/",
    "var/lib/dpkg/",
    "var/lib/apt/",
    "var/lib/rpm/",
    "usr/lib/sysimage/",
    "lib/apk/",
    "var/cache/",
    "proc/",
    "sys/",
    "dev/",
)
_NOISE_DIRS = frozenset(
    {
        "test",
        "tests",
        "testing",
        "testdata",
        "test_data",
        "__tests__",
        "fixtures",
        "spec",
        "specs",
        "example",
        "examples",
        "doc",
        "docs",
    }
)
_BINARY_SUFFIXES = (
    ".so",
    ".a",
    ".o",
    ".pyc",
    ".pyo",
    ".mo",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".webp",
    ".bmp",
    ".ttf",
    ".otf",
    ".woff",
    ".woff2",
    ".gz",
    ".tgz",
    ".xz",
    ".bz2",
    ".zst",
    ".zip",
    ".jar",
    ".war",
    ".whl",
    ".egg",
    ".deb",
    ".rpm",
    ".apk",
    ".class",
    ".wasm",
    ".db",
    ".sqlite",
    ".mp3",
    ".mp4",
    ".pdf",
    ".po",
    ".pot",
)
_SO_VERSIONED = re.compile(r"\.so(?:\.\d+)+$")


def wants(info: FileInfo) -> bool:
    """Whether the secret route reads this file (path and size only; see the module docstring)."""
    path = info.path
    if not 0 < info.size <= MAX_FILE_SIZE or path.startswith(_SKIP_PREFIXES):
        return False
    low = path.lower()
    if low.endswith(_BINARY_SUFFIXES) or (".so." in low and _SO_VERSIONED.search(low)):
        return False
    if "/locale/" in path or "/locales/" in path:
        return False
    if in_package_tree(path):
        parts = path.split("/")
        if any(p in _NOISE_DIRS for p in parts[:-1]):
            return False
    return True


def scan_file(info: FileInfo, content: bytes) -> Sequence[SecretMatch]:
    """The secrets in one file (empty for binary content)."""
    if b"\x00" in content[:BINARY_PROBE]:
        return ()
    try:
        return [to_match(content, h) for h in sorted(find_hits(content, info.path), key=lambda h: h.start)]
    except Exception as exc:  # never let an exception (which could quote content) reach the logs
        log.warning("secret scan of %s failed (%s); file skipped", info.path, type(exc).__name__)
        return ()


@dataclass(frozen=True)
class _SecretRoute:
    name: str = ROUTE_NAME
    magic: tuple[bytes, ...] = ()
    max_size: int = MAX_FILE_SIZE

    def wants(self, info: FileInfo) -> bool:
        return wants(info)

    def analyze(self, info: FileInfo, content: bytes) -> Sequence[SecretMatch]:
        return scan_file(info, content)


def secret_route() -> _SecretRoute:
    """The :class:`~imgsec.image.layers.Route` that finds secrets in each layer's text files."""
    return _SecretRoute()


def find_image_secrets(image: Image, layers: Sequence[LayerResult]) -> list[SecretFinding]:
    """Findings for what :func:`secret_route` found in each layer, with ``deleted`` from squashing.

    A file's secret is ``deleted`` when the final filesystem has no file at that path, or has one
    from a later layer (the file was deleted or replaced): it is still in the image's blobs.
    """
    own = [
        LayerResult(
            layer=lr.layer,
            results={ROUTE_NAME: lr.results.get(ROUTE_NAME, {})},
            whiteouts=lr.whiteouts,
            opaque_dirs=lr.opaque_dirs,
            non_dirs=lr.non_dirs,
        )
        for lr in layers
    ]
    final = squash(own).results.get(ROUTE_NAME, {})
    findings: list[SecretFinding] = []
    for index, lr in enumerate(layers):
        for path, matches in lr.results.get(ROUTE_NAME, {}).items():
            placed = final.get(path)
            deleted = placed is None or placed.layer_index != index
            for m in matches:
                if not isinstance(m, SecretMatch):
                    continue
                findings.append(
                    SecretFinding(
                        id=m.rule_id,
                        kind=FindingKind.SECRET,
                        severity=m.severity,
                        title=m.title,
                        locations=(Location(path, lr.layer),),
                        layer=lr.layer,
                        source=SOURCE_FILE,
                        path=path,
                        line=m.line,
                        match=m.match,
                        layer_index=index,
                        deleted=deleted,
                    )
                )
    findings.sort(key=lambda f: (f.layer_index or 0, f.path, f.line, f.id))
    return findings


# --- the image config ------------------------------------------------------------------------------

# NAME=VALUE pairs as they appear in history (``ENV A=b``, ``ARG T=x``, ``|2 A=b T=x /bin/sh -c``).
_PAIR_RE = re.compile(rb"""(?:^|(?<=\s))([A-Za-z_][A-Za-z0-9_.\-]*)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)""")


def _config_dict(image: Image) -> dict[str, Any]:
    cfg = image.config.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _pair_hits(name: str, value: bytes, offset: int) -> list[Hit]:
    """Hits in one ``name=value``: token rules on the value, else the secret-name rules."""
    hits = find_hits(value)
    if hits:
        return [Hit(h.rule, h.start + offset, h.end + offset, h.severity, h.title) for h in hits]
    quoted = len(value) >= 2 and value[:1] in (b'"', b"'") and value[-1:] == value[:1]
    inner = value[1:-1] if quoted else value
    hit = assignment_hit(name, inner, offset + (1 if quoted else 0), quoted=True, code=False)
    return [hit] if hit is not None else []


def _history_layers(image: Image) -> list[int | None]:
    """The layer index each history entry created (None for ``empty_layer`` entries)."""
    history = image.config.get("history")
    out: list[int | None] = []
    index = 0
    for entry in history if isinstance(history, list) else []:
        if isinstance(entry, dict) and entry.get("empty_layer") is True:
            out.append(None)
        else:
            out.append(index)
            index += 1
    return out


def config_secrets(image: Image) -> list[SecretFinding]:
    """Secrets in the config: ``Env`` values, ``Labels`` and every ``history[].created_by``.

    An ``ENV`` secret shows both in ``Env`` and in the history entry that set it; it is reported
    once, for ``Env``.  ``ARG`` values used by a ``RUN`` are only in the history.
    """
    findings: list[SecretFinding] = []
    seen: set[tuple[str, bytes]] = set()  # (rule, sha256 of the secret): kept in memory only

    def emit(source: str, where: str, text: bytes, hits: list[Hit], layer_index: int | None) -> None:
        for hit in hits:
            raw = text[hit.start : hit.end]
            key = (hit.rule.id, hashlib.sha256(raw).digest())
            if key in seen:
                continue
            seen.add(key)
            layer = None
            if layer_index is not None and layer_index < len(image.layers):
                layer = image.layers[layer_index].diff_id
            m = to_match(text, hit)
            findings.append(
                SecretFinding(
                    id=hit.rule.id,
                    kind=FindingKind.SECRET,
                    severity=hit.severity,
                    title=hit.title,
                    locations=(Location(f"{source}:{where}", layer),),
                    layer=layer,
                    source=source,
                    path=where,
                    line=0,
                    match=m.match,
                    layer_index=layer_index,
                )
            )

    cfg = _config_dict(image)
    env = cfg.get("Env")
    for item in env if isinstance(env, list) else []:
        if not isinstance(item, str):
            continue
        name, sep, value = item.partition("=")
        if sep:
            text = item.encode("utf-8", "replace")
            emit(SOURCE_ENV, name, text, _pair_hits(name, text[len(name) + 1 :], len(name) + 1), None)
    labels = cfg.get("Labels")
    for key, value in labels.items() if isinstance(labels, dict) else []:
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        text = f"{key}={value}".encode("utf-8", "replace")
        emit(SOURCE_LABEL, key, text, _pair_hits(key, text[len(key) + 1 :], len(key) + 1), None)
    history = image.config.get("history")
    layer_of = _history_layers(image)
    for i, entry in enumerate(history if isinstance(history, list) else []):
        created_by = entry.get("created_by") if isinstance(entry, dict) else None
        if not isinstance(created_by, str):
            continue
        text = created_by.encode("utf-8", "replace")
        hits = find_hits(text)
        for m in _PAIR_RE.finditer(text):
            if not any(h.start < m.end(2) and m.start(2) < h.end for h in hits):
                hits.extend(_pair_hits(m.group(1).decode("ascii"), m.group(2), m.start(2)))
        emit(SOURCE_HISTORY, f"history[{i}]", text, hits, layer_of[i])
    return findings


__all__ = ["config_secrets", "find_image_secrets", "redact", "secret_route"]
