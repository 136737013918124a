"""Rust crates recorded in binaries built with ``cargo auditable``.

``cargo auditable`` embeds the resolved dependency tree as zlib-compressed JSON in an ELF section
named ``.dep-v0``.  Mirrors syft's cargo-auditable-binary-cataloger: every crate of kind
``runtime`` (the default) is reported, the root crate included; build-time-only crates
(``"kind": "build"``) are left out because they are not in the binary.  ``Cargo.lock`` files are
not read: syft only reads them on directory scans, not on images.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

from packageurl import PackageURL

from imgsec.sbom.catalogers.base import FileInfo, MiB
from imgsec.sbom.catalogers.elf import ElfView
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

SECTION = ".dep-v0"
_MAX_COMPRESSED = 4 * MiB
_MAX_JSON = 16 * MiB  # a dependency list this large is a bomb, not a program
_ALWAYS_LOOK = 256 * 1024


def read_audit_data(content: bytes) -> dict[str, Any] | None:
    """The decoded ``.dep-v0`` JSON of an ELF file, or None if it has none (or it is unusable)."""
    if not content.startswith(b"\x7fELF"):
        return None
    elf = ElfView(content)
    names = elf.names_if_any()
    if SECTION.encode() not in (content if names is None else names):
        return None  # the section name must be in the section-name table; cheap rejection
    section = elf.section(SECTION)
    if section is None:
        return None
    offset, size = section.offset, section.size
    if size > _MAX_COMPRESSED or offset + size > len(content):
        log.debug("%s section is too large or outside the file", SECTION)
        return None
    inflater = zlib.decompressobj()
    raw = inflater.decompress(content[offset : offset + size], _MAX_JSON)
    if inflater.unconsumed_tail:
        log.debug("%s inflates beyond %d bytes; ignored", SECTION, _MAX_JSON)
        return None
    doc = json.loads(raw)
    return doc if isinstance(doc, dict) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


class CargoAuditableCataloger:
    """Crates compiled into Rust ELF binaries built with ``cargo auditable``."""

    name: ClassVar[str] = "cargo-auditable-binary"
    magic: ClassVar[tuple[bytes, ...]] = (b"\x7fELF",)
    max_size: ClassVar[int] = 256 * MiB

    def wants(self, info: FileInfo) -> bool:
        # Like syft, go by content: executables, shared objects, bin directories and big files.
        path = info.path
        return info.executable or info.size >= _ALWAYS_LOOK or "bin/" in path or ".so" in path

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        try:
            doc = read_audit_data(content)
        except Exception as exc:  # ElfError, zlib and json each have their own errors for hostile input
            log.debug("%s: unreadable cargo-auditable data: %s", info.path, exc)
            return []
        if doc is None:
            return []
        crates = doc.get("packages")
        if not isinstance(crates, list):
            log.debug("%s: %s has no package list", info.path, SECTION)
            return []
        found: list[Package] = []
        for crate in crates:
            if not isinstance(crate, dict) or crate.get("kind", "runtime") != "runtime":
                continue
            name, version = _text(crate.get("name")), _text(crate.get("version"))
            if not name or not version:
                continue
            try:
                purl = PackageURL(type="cargo", name=name, version=version).to_string()
            except ValueError:
                continue
            metadata = {"name": name, "version": version}
            if source := _text(crate.get("source")):
                metadata["source"] = source
            if crate.get("root") is True:
                metadata["root"] = "true"
            found.append(
                Package(
                    name=name,
                    version=version,
                    type=PackageType.RUST_CRATE,
                    purl=purl,
                    locations=(Location(info.path, info.layer),),
                    layer=info.layer,
                    metadata=tuple(sorted(metadata.items())),
                )
            )
        return found
