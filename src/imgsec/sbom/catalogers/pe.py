"""The few PE (Windows executable) headers the Go cataloger needs, read with bounds-checked ``struct``.

DOS header (``e_lfanew``), the ``PE\\0\\0`` signature, the COFF header, the optional header's image
base (PE32 or PE32+) and the section table.  Every offset is checked against the file before use: a
malformed file raises :class:`PeError` (never anything else), which callers treat as "not one of ours".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMAGE_SCN_CNT_INITIALIZED_DATA = 0x00000040
IMAGE_SCN_MEM_READ = 0x40000000
IMAGE_SCN_MEM_WRITE = 0x80000000
IMAGE_SCN_ALIGN_32BYTES = 0x00600000
_PE32, _PE32_PLUS = 0x10B, 0x20B
_MAX_SECTIONS = 96  # the PE/COFF limit the Windows loader enforces

#: COFF ``Machine`` -> the GOARCH name.
MACHINES = {0x14C: "386", 0x8664: "amd64", 0x1C4: "arm", 0xAA64: "arm64"}

_COFF = struct.Struct("<HHIIIHH")
_SECTION = struct.Struct("<8sIIIIIIHHI")


class PeError(ValueError):
    """Not a PE file, or one whose headers point outside it."""


@dataclass(frozen=True)
class PeSection:
    name: str
    virtual_address: int
    virtual_size: int
    raw_size: int
    raw_offset: int
    characteristics: int


class PeView:
    """Machine, image base and sections of a PE file (``content`` is not copied)."""

    def __init__(self, content: bytes) -> None:
        if len(content) < 64 or not content.startswith(b"MZ"):
            raise PeError("not a PE file")
        self.content = content
        (lfanew,) = struct.unpack_from("<I", content, 0x3C)
        self._span(lfanew, 4 + _COFF.size, "the PE header")
        if content[lfanew : lfanew + 4] != b"PE\0\0":
            raise PeError("no PE signature")
        machine, nsections, _time, _symtab, _nsyms, opt_size, _chars = _COFF.unpack_from(content, lfanew + 4)
        self.machine: int = machine
        opt = lfanew + 4 + _COFF.size
        self._span(opt, opt_size, "the optional header")
        if opt_size < 2:
            raise PeError("no optional header")
        (magic,) = struct.unpack_from("<H", content, opt)
        self.image_base: int
        if magic == _PE32 and opt_size >= 32:
            (self.image_base,) = struct.unpack_from("<I", content, opt + 28)
        elif magic == _PE32_PLUS and opt_size >= 32:
            (self.image_base,) = struct.unpack_from("<Q", content, opt + 24)
        else:
            raise PeError("unknown optional header")
        if nsections > _MAX_SECTIONS:
            raise PeError("implausible section count")
        table = opt + opt_size
        self._span(table, nsections * _SECTION.size, "the section table")
        sections = []
        for i in range(nsections):
            name, vsize, vaddr, raw_size, raw_offset, *_, chars = _SECTION.unpack_from(
                content, table + i * _SECTION.size
            )
            if raw_size:
                self._span(raw_offset, raw_size, "a section's data")
            sections.append(
                PeSection(name.rstrip(b"\0").decode("latin-1"), vaddr, vsize, raw_size, raw_offset, chars)
            )
        self.sections: tuple[PeSection, ...] = tuple(sections)

    def _span(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.content):
            raise PeError(f"{what} lies outside the file")

    def data_start(self) -> int | None:
        """The virtual address of the first writable data section (``.data``), as debug/buildinfo has it."""
        wanted = IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE
        for s in self.sections:
            if s.virtual_address and s.raw_size and s.characteristics & ~IMAGE_SCN_ALIGN_32BYTES == wanted:
                return s.virtual_address + self.image_base
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Up to ``size`` file bytes at virtual address ``addr`` (empty when no section maps it)."""
        rva = addr - self.image_base
        for s in self.sections:
            if s.virtual_address <= rva < s.virtual_address + s.raw_size:
                start = s.raw_offset + rva - s.virtual_address
                end = min(start + size, s.raw_offset + s.raw_size)
                return self.content[start:end] if start < end else b""
        return b""
