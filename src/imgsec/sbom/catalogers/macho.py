"""The few Mach-O (macOS executable) headers the Go cataloger needs, read with bounds-checked ``struct``.

Thin files of both classes (32/64-bit) and byte orders, with their ``LC_SEGMENT``/``LC_SEGMENT_64``
load commands and sections, and universal ("fat") files, every architecture slice of them.  Every
offset is checked against the file before use: a malformed file raises :class:`MachoError` (never
anything else), which callers treat as "not one of ours".

Java class files start with the fat magic ``0xCAFEBABE`` too.  They are told apart the way Go's
``debug/macho`` does it: a fat file must list at least one slice, and every slice it lists must lie
inside the file and be a thin Mach-O file of the CPU type its table entry announces; a class file's
version numbers and constant pool never pass that.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
_VM_PROT_RW = 0x3
FAT_MAGIC = b"\xca\xfe\xba\xbe"
#: Leading bytes of thin files -> (byte order, 64-bit).
THIN_MAGICS: dict[bytes, tuple[Literal["<", ">"], bool]] = {
    b"\xfe\xed\xfa\xce": (">", False),
    b"\xfe\xed\xfa\xcf": (">", True),
    b"\xce\xfa\xed\xfe": ("<", False),
    b"\xcf\xfa\xed\xfe": ("<", True),
}
_MAX_COMMANDS = 1 << 12
_MAX_SECTIONS = 1 << 12
_MAX_ARCHES = 64

#: ``cputype`` -> the GOARCH name.
CPUS = {7: "386", 0x01000007: "amd64", 12: "arm", 0x0100000C: "arm64", 18: "ppc", 0x01000012: "ppc64"}

_FAT_ARCH = struct.Struct(">iiIII")
# Layouts without the byte-order prefix: segment command, section.
_LAYOUTS = {
    False: ("16sIIIIiiII", "16s16sIIIIIIIII"),
    True: ("16sQQQQiiII", "16s16sQQIIIIIIII"),
}


class MachoError(ValueError):
    """Not a Mach-O file, or one whose headers point outside it."""


@dataclass(frozen=True)
class MachoSection:
    name: str
    segment: str
    addr: int
    size: int
    offset: int


@dataclass(frozen=True)
class MachoSegment:
    name: str
    vmaddr: int
    fileoff: int
    filesize: int
    maxprot: int
    initprot: int


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


class MachoView:
    """CPU, segments and sections of one thin Mach-O file (``content`` is not copied)."""

    def __init__(self, content: bytes) -> None:
        kind = THIN_MAGICS.get(content[:4])
        if kind is None:
            raise MachoError("not a thin Mach-O file")
        order, is64 = kind
        header = struct.Struct(order + ("IiiIIIII" if is64 else "IiiIIII"))
        if len(content) < header.size:
            raise MachoError("truncated Mach-O header")
        self.content = content
        _magic, cputype, _sub, _filetype, ncmds, sizeofcmds, *_ = header.unpack_from(content)
        self.cputype: int = cputype
        if ncmds > _MAX_COMMANDS:
            raise MachoError("implausible load command count")
        self._span(header.size, sizeofcmds, "the load commands")
        seg_layout, sect_layout = _LAYOUTS[is64]
        seg_struct, sect_struct = struct.Struct(order + seg_layout), struct.Struct(order + sect_layout)
        command = struct.Struct(order + "II")
        segments: list[MachoSegment] = []
        sections: list[MachoSection] = []
        at, end = header.size, header.size + sizeofcmds
        wanted = LC_SEGMENT_64 if is64 else LC_SEGMENT
        for _ in range(ncmds):
            if at + command.size > end:
                raise MachoError("load command runs past the load commands")
            cmd, cmdsize = command.unpack_from(content, at)
            if cmdsize < command.size or at + cmdsize > end:
                raise MachoError("implausible load command size")
            if cmd == wanted:
                if cmdsize < command.size + seg_struct.size:
                    raise MachoError("truncated segment command")
                name, vmaddr, _vmsize, fileoff, filesize, maxprot, initprot, nsects, _flags = (
                    seg_struct.unpack_from(content, at + command.size)
                )
                if filesize:
                    self._span(fileoff, filesize, "a segment's data")
                segments.append(MachoSegment(_name(name), vmaddr, fileoff, filesize, maxprot, initprot))
                first = at + command.size + seg_struct.size
                if nsects > _MAX_SECTIONS or first + nsects * sect_struct.size > at + cmdsize:
                    raise MachoError("sections run past their segment command")
                for i in range(nsects):
                    fields = sect_struct.unpack_from(content, first + i * sect_struct.size)
                    sections.append(
                        MachoSection(_name(fields[0]), _name(fields[1]), fields[2], fields[3], fields[4])
                    )
            at += cmdsize
        self.segments: tuple[MachoSegment, ...] = tuple(segments)
        self.sections: tuple[MachoSection, ...] = tuple(sections)

    def _span(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.content):
            raise MachoError(f"{what} lies outside the file")

    def data_start(self) -> int | None:
        """Where debug/buildinfo looks: ``__go_buildinfo``, else the first non-empty read-write segment."""
        for section in self.sections:
            if section.name == "__go_buildinfo":
                return section.addr
        for seg in self.segments:
            if seg.vmaddr and seg.filesize and seg.initprot == _VM_PROT_RW and seg.maxprot == _VM_PROT_RW:
                return seg.vmaddr
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Up to ``size`` file bytes at virtual address ``addr`` (empty when no segment maps it)."""
        for seg in self.segments:
            if seg.name != "__PAGEZERO" and seg.vmaddr <= addr < seg.vmaddr + seg.filesize:
                start = seg.fileoff + addr - seg.vmaddr
                end = min(start + size, seg.fileoff + seg.filesize)
                return self.content[start:end] if start < end else b""
        return b""


def macho_slices(content: bytes) -> list[MachoView]:
    """The thin Mach-O file, or every architecture slice of a universal one.

    Raises :class:`MachoError` for anything else, including Java class files (see the module doc).
    """
    if not content.startswith(FAT_MAGIC):
        return [MachoView(content)]
    if len(content) < 8:
        raise MachoError("truncated fat header")
    (narch,) = struct.unpack_from(">I", content, 4)
    if not 1 <= narch <= _MAX_ARCHES or 8 + narch * _FAT_ARCH.size > len(content):
        raise MachoError("implausible fat architecture count (a Java class file?)")
    views = []
    seen: set[tuple[int, int]] = set()
    for i in range(narch):
        cputype, cpusubtype, offset, size, _align = _FAT_ARCH.unpack_from(content, 8 + i * _FAT_ARCH.size)
        if offset + size > len(content) or size == 0:
            raise MachoError("fat slice lies outside the file")
        if (cputype, cpusubtype) in seen:
            raise MachoError("duplicate architecture in fat file")
        seen.add((cputype, cpusubtype))
        view = MachoView(content[offset : offset + size])
        if view.cputype != cputype:
            raise MachoError("fat slice is not of the CPU type its table announces")
        views.append(view)
    return views
