"""Installed Alpine packages: ``lib/apk/db/installed``.

The database is a text file of ``X:value`` lines, one package a paragraph, paragraphs separated by a
blank line (https://wiki.alpinelinux.org/wiki/Apk_spec).  Used here: ``P`` name, ``V`` version,
``A`` arch, ``o`` origin (source package), ``L`` license, ``m`` maintainer, ``c`` aports commit.
File records (``F``/``R``/``M``/``a``/``Z``) are skipped: locations point at the database itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import ClassVar

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.distro import os_purl
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

INSTALLED_DB = "lib/apk/db/installed"
# apk-tools 3 on a merged-/usr system keeps it under usr/ (lib/apk is then a symlink, not handed over).
INSTALLED_DBS = frozenset({INSTALLED_DB, "usr/lib/apk/db/installed"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._\-]*$")
# apk versions: digits and dots, optional letter, _suffixes, -rN (apk-tools version.c); be lenient
# about the exact grammar but refuse whitespace and separators.
_VERSION = re.compile(r"^[A-Za-z0-9._+~\-]+$")
_SPDX_OPERATOR = re.compile(r"\b(?:AND|OR|WITH)\b|[()]")
_WANTED = frozenset("PVAoLmc")


class ApkCataloger:
    """Packages recorded by apk-tools (Alpine, Wolfi, Chainguard)."""

    name: ClassVar[str] = "apk"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 256 * MiB

    hints: ClassVar[PathHints] = PathHints(exact=INSTALLED_DBS)

    def wants(self, info: FileInfo) -> bool:
        return info.path in INSTALLED_DBS

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        return parse_apk_installed(content, Location(info.path, info.layer))


def split_licenses(value: str) -> tuple[str, ...]:
    """``L:`` is an SPDX expression (kept whole) or, in older packages, a space-separated list."""
    value = value.strip()
    if not value:
        return ()
    if _SPDX_OPERATOR.search(value):
        return (value,)
    return tuple(value.split())


def parse_apk_installed(content: bytes, location: Location) -> list[Package]:
    """Packages listed in one apk ``installed`` database."""
    if b"\0" in content:
        log.warning("%s: binary content, not an apk database; skipped", location.path)
        return []
    packages: list[Package] = []
    skipped = 0
    fields: dict[str, str] = {}

    def flush() -> None:
        nonlocal skipped
        if fields:
            package = _package(fields, location)
            if package is None:
                skipped += 1
            else:
                packages.append(package)
            fields.clear()

    for raw in content.decode("utf-8", errors="replace").split("\n"):
        line = raw.rstrip("\r")
        if not line:
            flush()
            continue
        if len(line) < 2 or line[1] != ":":
            continue
        key = line[0]
        if key in _WANTED and key not in fields:
            fields[key] = line[2:].strip()
    flush()
    if skipped:
        log.warning("%s: skipped %d malformed apk entr(y/ies)", location.path, skipped)
    return packages


def _package(fields: dict[str, str], location: Location) -> Package | None:
    name = fields.get("P", "")
    version = fields.get("V", "")
    if not _NAME.match(name) or not _VERSION.match(version):
        log.debug("%s: entry with invalid P %r or V %r", location.path, name, version)
        return None
    arch = fields.get("A") or None
    origin = fields.get("o") or name
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if origin != name:
        qualifiers["upstream"] = origin
    metadata = [(key, fields[f]) for f, key in (("m", "maintainer"), ("c", "commit")) if fields.get(f)]
    return Package(
        name=name,
        version=version,
        type=PackageType.APK,
        purl=os_purl("apk", "alpine", name, version, qualifiers),
        source_name=origin,
        source_version=version,
        licenses=split_licenses(fields.get("L", "")),
        locations=(location,),
        layer=location.layer,
        arch=arch,
        metadata=tuple(sorted(metadata)),
    )
