"""The few ELF headers the binary catalogers need, read with bounds-checked ``struct`` unpacking.

Go build info and cargo-auditable data need the loadable segments (to map virtual addresses to
file offsets), a section by name and the machine.  pyelftools reads all of that too, but importing
it costs ~50 ms, which every image with one Go program paid (most Kubernetes images have one);
these ~100 lines cost nothing to import.  They are checked against pyelftools on real binaries of
every class and byte order in the tests, and every offset is checked against the file before use:
a malformed file raises :class:`ElfError` (never anything else), and callers treat that as "not
one of ours".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PT_LOAD = 1
PF_X, PF_W = 0x1, 0x2
_SHN_XINDEX = 0xFFFF
_PN_XNUM = 0xFFFF
_MAX_HEADERS = 1 << 16  # segments or sections: more is not a program, it is a trap
_MAX_NAMES = 1 << 20

#: ``e_machine`` -> the architecture name pyelftools gives (``EM_X86_64`` -> ``x86_64``).
MACHINES = {
    2: "sparc",
    3: "386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    43: "sparcv9",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}


class ElfError(ValueError):
    """Not an ELF file, or one whose headers point outside it."""


@dataclass(frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    offset: int
    size: int


# (header, program header, section header) layouts per class, without the byte-order prefix.
_LAYOUTS = {
    1: ("16xHHIIIIIHHHHHH", "IIIIIIII", "IIIIIIIIII"),
    2: ("16xHHIQQQIHHHHHH", "IIQQQQQQ", "IIQQQQIIQQ"),
}


class ElfView:
    """Machine, loadable segments and sections of an ELF file (``content`` is not copied)."""

    def __init__(self, content: bytes) -> None:
        if len(content) < 52 or not content.startswith(b"\x7fELF"):
            raise ElfError("not an ELF file")
        klass, data = content[4], content[5]
        if klass not in _LAYOUTS or data not in (1, 2):
            raise ElfError("unknown ELF class or byte order")
        order = "<" if data == 1 else ">"
        header, phdr, shdr = (struct.Struct(order + layout) for layout in _LAYOUTS[klass])
        self.content = content
        if len(content) < header.size:
            raise ElfError("truncated ELF header")
        (
            _type,
            machine,
            _version,
            _entry,
            phoff,
            shoff,
            _flags,
            _ehsize,
            phentsize,
            phnum,
            shentsize,
            shnum,
            shstrndx,
        ) = header.unpack_from(content)
        self.machine: int = machine
        self._shdr = shdr
        self._shoff, self._shentsize = shoff, shentsize
        # Extended numbering: counts that do not fit the header live in section 0.
        if shoff and (shnum == 0 or shstrndx == _SHN_XINDEX or phnum == _PN_XNUM):
            first = self._section_header(0, check_count=False)
            shnum = shnum or first[5]
            shstrndx = first[6] if shstrndx == _SHN_XINDEX else shstrndx
            phnum = first[7] if phnum == _PN_XNUM else phnum
        self._shnum = shnum if shoff else 0
        self._shstrndx = shstrndx
        self._program = (phoff, phentsize, phnum, phdr, klass)
        self._loads: tuple[Segment, ...] | None = None

    @property
    def loads(self) -> tuple[Segment, ...]:
        """The ``PT_LOAD`` segments (read on first use)."""
        if self._loads is None:
            self._loads = tuple(s for s in self._segments(*self._program) if s.type == PT_LOAD)
        return self._loads

    def _span(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.content):
            raise ElfError(f"{what} lies outside the file")

    def _segments(
        self, phoff: int, entsize: int, count: int, phdr: struct.Struct, klass: int
    ) -> list[Segment]:
        if count == 0:
            return []
        if count > _MAX_HEADERS or entsize < phdr.size:
            raise ElfError("implausible program header table")
        self._span(phoff, entsize * count, "the program header table")
        out = []
        for i in range(count):
            fields = phdr.unpack_from(self.content, phoff + i * entsize)
            if klass == 2:
                p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = fields
            else:
                p_type, offset, vaddr, _paddr, filesz, memsz, flags, _align = fields
            out.append(Segment(p_type, flags, offset, vaddr, filesz, memsz))
        return out

    def _section_header(self, index: int, *, check_count: bool = True) -> tuple[int, ...]:
        if check_count and not 0 <= index < self._shnum:
            raise ElfError("section index out of range")
        if self._shentsize < self._shdr.size:
            raise ElfError("implausible section header size")
        at = self._shoff + index * self._shentsize
        self._span(at, self._shdr.size, "a section header")
        # name, type, flags, addr, offset, size, link, info, addralign, entsize
        return tuple(self._shdr.unpack_from(self.content, at))

    def section_names(self) -> bytes:
        """The raw section-name string table."""
        if self._shnum == 0:
            raise ElfError("no section headers")
        if self._shnum > _MAX_HEADERS:
            raise ElfError("implausible section header table")
        fields = self._section_header(self._shstrndx)
        offset, size = fields[4], fields[5]
        if size > _MAX_NAMES:
            raise ElfError("implausible section-name table")
        self._span(offset, size, "the section-name table")
        return self.content[offset : offset + size]

    def names_if_any(self) -> bytes | None:
        """:meth:`section_names`, or None when there is no usable table (then search the whole file)."""
        try:
            return self.section_names()
        except ElfError:
            return None

    def section(self, name: str) -> Section | None:
        """The first section called ``name``; None when there is none (or no section table)."""
        if self._shnum == 0:
            return None
        names = self.section_names()
        wanted = name.encode()
        for index in range(self._shnum):
            fields = self._section_header(index)
            start = fields[0]
            if names[start : start + len(wanted) + 1] == wanted + b"\x00":
                return Section(name, fields[3], fields[4], fields[5])
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Up to ``size`` file bytes at virtual address ``addr`` (empty when no segment maps it)."""
        for seg in self.loads:
            if seg.vaddr <= addr < seg.vaddr + seg.filesz:
                start = seg.offset + addr - seg.vaddr
                end = min(start + size, seg.offset + seg.filesz, len(self.content))
                return self.content[start:end] if start < end else b""
        return b""


def section_names(content: bytes) -> bytes | None:
    """The raw ``.shstrtab`` bytes of an ELF file, or None when they cannot be located.

    Catalogers that look for one section (Go's ``.go.buildinfo``, cargo-auditable's ``.dep-v0``)
    are offered every executable of an image; searching these few hundred bytes instead of the
    whole file settles most of them in microseconds.  ``None`` (no section headers, anything
    malformed) means: search the whole file, so a stripped or hostile binary is never missed.
    """
    try:
        return ElfView(content).names_if_any()
    except ElfError:
        return None
