"""The section-name table of an ELF file, read with a few bounds-checked slices.

Catalogers that look for one section (Go's ``.go.buildinfo``, cargo-auditable's ``.dep-v0``) are
offered every executable of an image; most are not theirs.  Searching the few hundred bytes of
section names instead of the whole file settles that in microseconds.  Anything unusual (no
section headers, out-of-bounds offsets, a truncated file) gives ``None``: the caller then falls
back to searching the whole file, so a hostile or stripped binary is never missed because of it.
"""

from __future__ import annotations

from typing import Literal

_SHN_XINDEX = 0xFFFF
_MAX_NAMES = 1 << 20


def section_names(content: bytes) -> bytes | None:
    """The raw ``.shstrtab`` bytes of an ELF file, or None when they cannot be located."""
    if len(content) < 64 or not content.startswith(b"\x7fELF"):
        return None
    klass, data = content[4], content[5]
    if data not in (1, 2) or klass not in (1, 2):
        return None
    order: Literal["little", "big"] = "little" if data == 1 else "big"

    def num(offset: int, size: int) -> int:
        return int.from_bytes(content[offset : offset + size], order)

    if klass == 2:
        shoff, shentsize, shnum, shstrndx = num(0x28, 8), num(0x3A, 2), num(0x3C, 2), num(0x3E, 2)
        off_field, size_field, link_field, word = 0x18, 0x20, 0x28, 8
    else:
        shoff, shentsize, shnum, shstrndx = num(0x20, 4), num(0x2E, 2), num(0x30, 2), num(0x32, 2)
        off_field, size_field, link_field, word = 0x10, 0x14, 0x18, 4
    if shoff == 0 or shentsize < size_field + word or shoff + shentsize > len(content):
        return None
    if shnum == 0:  # more sections than fit in the header: the count is in section 0's size
        shnum = num(shoff + size_field, word)
    if shstrndx == _SHN_XINDEX:
        shstrndx = num(shoff + link_field, 4)
    if shstrndx >= shnum:
        return None
    header = shoff + shstrndx * shentsize
    if header + shentsize > len(content):
        return None
    offset, size = num(header + off_field, word), num(header + size_field, word)
    if size > _MAX_NAMES or offset + size > len(content):
        return None
    return content[offset : offset + size]
