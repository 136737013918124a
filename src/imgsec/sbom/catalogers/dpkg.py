"""Installed Debian packages: ``var/lib/dpkg/status`` and distroless ``var/lib/dpkg/status.d/*``.

The status file is deb822 (RFC 822-like paragraphs separated by blank lines).  python-debian
parses it correctly but takes ~65 µs a paragraph, too slow for a 2,000-package status file, and
only five fields matter here, so they are pulled out in one regular-expression pass over the
file (~20 µs a package).  Field names are case-insensitive (Debian policy 5.1); continuation lines
start with whitespace and so never match.

dpkg records no licenses; they live in ``usr/share/doc/<pkg>/copyright``, a different file, so
the cataloger leaves them empty and :func:`licenses_from_copyright` /
:func:`attach_copyright_licenses` (below) let the pipeline add them as syft does.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.distro import os_purl
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"

# One pass over the whole file: each match is either a wanted field at the start of a line or a
# blank (or whitespace-only) line, which ends a paragraph.  The leading "\n" literal lets the regex
# engine skip quickly between line starts (the text is given a leading "\n" for the first line).
_TOKEN = re.compile(r"\n(?:((?i:package|status|version|architecture|source)):[ \t]*([^\n]*)|[ \t]*(?=\n|\Z))")
# "Source: name" or "Source: name (version)" (deb-src-control(5), dpkg writes the version only when
# it differs from the binary's).
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
# Package names: Debian policy 5.6.1 (plus upper case, which dpkg tolerates in old databases).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.\-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9.+~:\-]+$")

# Third word of Status: the state of the package's files.  In these states nothing (or only
# conffiles) of the package is on disk, so it is not reported.
_ABSENT_STATES = frozenset({"not-installed", "config-files"})


class DpkgCataloger:
    """Packages recorded by dpkg (Debian, Ubuntu, distroless)."""

    name: ClassVar[str] = "dpkg"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 64 * MiB

    hints: ClassVar[PathHints] = PathHints(exact=frozenset({STATUS_PATH}), prefixes=(STATUS_DIR,))

    def wants(self, info: FileInfo) -> bool:
        path = info.path
        if path == STATUS_PATH:
            return True
        if path.startswith(STATUS_DIR):
            leaf = path[len(STATUS_DIR) :]
            return bool(leaf) and "/" not in leaf and not leaf.endswith(".md5sums")
        return False

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        return parse_dpkg_status(content, Location(info.path, info.layer))


def parse_dpkg_status(content: bytes, location: Location) -> list[Package]:
    """Packages installed according to one status file (or one ``status.d`` entry)."""
    text = content.decode("utf-8", errors="replace")
    if "\0" in text:
        log.warning("%s: binary content, not a dpkg status file; skipped", location.path)
        return []
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    packages: list[Package] = []
    skipped = 0
    fields: dict[str, str] = {}
    duplicate = False

    def flush() -> None:
        nonlocal skipped
        if duplicate:
            skipped += 1
            log.debug("%s: paragraph repeats a field (missing blank line?); skipped", location.path)
        elif _installed(fields):  # else removed, or only conffiles left: normal, not damage
            package = _package(fields, location)
            if package is None:
                skipped += 1
            else:
                packages.append(package)

    for raw_key, value in _TOKEN.findall("\n" + text):
        if raw_key:
            key = raw_key.lower()
            if key in fields:
                duplicate = True
            fields[key] = value.rstrip(" \t")
        elif fields:
            flush()
            fields = {}
            duplicate = False
    if fields:
        flush()
    if skipped:
        log.warning("%s: skipped %d malformed dpkg paragraph(s)", location.path, skipped)
    return packages


def _installed(fields: dict[str, str]) -> bool:
    status = fields.get("status")
    if status is None:
        return True  # distroless status.d entries carry no Status: present means installed
    words = status.split()
    return len(words) == 3 and words[2] not in _ABSENT_STATES


def _package(fields: dict[str, str], location: Location) -> Package | None:
    name = fields.get("package", "")
    version = fields.get("version", "")
    if not _NAME.match(name) or not _VERSION.match(version):
        log.debug("%s: entry with invalid Package %r or Version %r", location.path, name, version)
        return None
    arch = fields.get("architecture") or None
    source_field = fields.get("source", "")
    source_name, source_version = name, version
    upstream: str | None = None
    if source_field:
        match = _SOURCE.match(source_field)
        if match is None:
            log.debug("%s: %s has an unparsable Source %r", location.path, name, source_field)
        else:
            source_name = match.group(1)
            source_version = match.group(2) or version
            # syft: upstream=<src> or <src>@<srcversion> whenever the Source field is present.
            upstream = f"{source_name}@{match.group(2)}" if match.group(2) else source_name
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if upstream:
        qualifiers["upstream"] = upstream
    return Package(
        name=name,
        version=version,
        type=PackageType.DEB,
        purl=os_purl("deb", "debian", name, version, qualifiers),
        source_name=source_name,
        source_version=source_version,
        locations=(location,),
        layer=location.layer,
        arch=arch,
    )


# --- licenses from usr/share/doc/<package>/copyright -------------------------------------------
#
# dpkg records no license; syft reads each package's copyright file.  A cataloger sees one file at a
# time, so this is offered as two pure steps the layer pipeline can wire like distro detection:
# route ``copyright_package(path)`` files through ``licenses_from_copyright`` (small, cacheable per
# layer), then ``attach_copyright_licenses`` on the squashed result (symlinked doc directories, e.g.
# libgcc-s1 -> gcc-12-base, resolved by the caller).

COPYRIGHT_MAX_SIZE = 4 * MiB
_COPYRIGHT_PATH = re.compile(r"usr/share/doc/([A-Za-z0-9][A-Za-z0-9+.\-]*)/copyright")
# syft 1.18 (parse_copyright.go): "License: <id>" lines of the machine-readable format
# (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/) and references to
# /usr/share/common-licenses/<id> in free-form files.
_LICENSE_LINE = re.compile(r"^License: (\S*)", re.M)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([0-9A-Za-z_.\-]+)")


def copyright_package(path: str) -> str | None:
    """The package whose copyright file ``path`` is (``usr/share/doc/<name>/copyright``), else ``None``."""
    match = _COPYRIGHT_PATH.fullmatch(path)
    return match.group(1) if match else None


def licenses_from_copyright(content: bytes) -> tuple[str, ...]:
    """The license ids a Debian copyright file names, sorted and unique (syft's rules)."""
    if len(content) > COPYRIGHT_MAX_SIZE or b"\0" in content:
        return ()
    text = content.decode("utf-8", errors="replace").replace("\r\n", "\n")
    found: set[str] = set()
    for match in (*_LICENSE_LINE.finditer(text), *_COMMON_LICENSE.finditer(text)):
        candidate = match.group(1).strip()
        if candidate.lower() in ("", "none"):
            continue
        found.add(candidate.removesuffix("."))
    found.discard("")
    return tuple(sorted(found))


def attach_copyright_licenses(
    packages: Iterable[Package], licenses_by_package: Mapping[str, tuple[str, ...]]
) -> tuple[Package, ...]:
    """deb packages without licenses get those of their copyright file; everything else is untouched."""
    out: list[Package] = []
    for package in packages:
        found = licenses_by_package.get(package.name) if package.type == PackageType.DEB else None
        out.append(
            dataclasses.replace(package, licenses=found) if found and not package.licenses else package
        )
    return tuple(out)
