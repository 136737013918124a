"""RPM header blobs: the record every rpmdb backend (sqlite, Berkeley DB, ndb) stores per package.

Layout (rpm ``lib/header.c``, ``hdrblobInit``), all integers big-endian::

    il:u32  dl:u32  il * (tag:u32 type:u32 offset:i32 count:u32)  data[dl]

Offsets are relative to the start of ``data``.  Only the few tags a package identity needs are
decoded; everything is bounds-checked because the blob comes from an untrusted image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# rpm's own sanity limits (lib/header_internal.h: HEADER_TAGS_MAX, HEADER_DATA_MAX).
_MAX_INDEX_ENTRIES = 0xFFFF
_MAX_DATA = 0x0FFFFFFF

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
TAG_MODULARITYLABEL = 5096

_TYPE_INT32 = 4
_TYPE_STRING = 6
_TYPE_STRING_ARRAY = 8
_TYPE_I18NSTRING = 9

_STRING_TAGS = frozenset(
    {
        TAG_NAME,
        TAG_VERSION,
        TAG_RELEASE,
        TAG_VENDOR,
        TAG_LICENSE,
        TAG_ARCH,
        TAG_SOURCERPM,
        TAG_MODULARITYLABEL,
    }
)
_ENTRY = struct.Struct(">IIiI")


class HeaderError(ValueError):
    """A header blob that does not follow the format (internal: catalogers log it and skip)."""


@dataclass(frozen=True)
class RpmHeader:
    """The identity of one installed rpm, as its header records it."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    license: str | None
    vendor: str | None
    source_rpm: str | None
    modularity_label: str | None


def parse_header_blob(blob: bytes) -> RpmHeader:
    """Decode the identity tags of one header blob; :class:`HeaderError` if it is malformed."""
    if len(blob) < 8:
        raise HeaderError(f"header blob of {len(blob)} bytes is shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if not 0 < il <= _MAX_INDEX_ENTRIES:
        raise HeaderError(f"header claims {il} index entries")
    if dl > _MAX_DATA:
        raise HeaderError(f"header claims {dl} bytes of data")
    data_start = 8 + il * _ENTRY.size
    data_end = data_start + dl
    if data_end > len(blob):
        raise HeaderError(f"header needs {data_end} bytes, blob has {len(blob)}")

    strings: dict[int, str] = {}
    epoch: int | None = None
    for tag, typ, offset, count in _ENTRY.iter_unpack(blob[8:data_start]):
        if tag != TAG_EPOCH and tag not in _STRING_TAGS:
            continue
        if tag == TAG_EPOCH:
            if typ != _TYPE_INT32 or count < 1 or offset < 0 or offset + 4 > dl:
                raise HeaderError("EPOCH tag is not an in-bounds INT32")
            epoch = struct.unpack_from(">I", blob, data_start + offset)[0]
        elif tag in _STRING_TAGS:
            if typ not in (_TYPE_STRING, _TYPE_I18NSTRING, _TYPE_STRING_ARRAY) or count < 1:
                raise HeaderError(f"tag {tag} has type {typ}, expected a string")
            if not 0 <= offset < dl:
                raise HeaderError(f"tag {tag} points outside the data store")
            start = data_start + offset
            end = blob.find(b"\0", start, data_end)
            if end < 0:
                raise HeaderError(f"tag {tag} string is not NUL-terminated inside the data store")
            # Later entries (the "dribble" after the immutable region) override earlier ones, as in rpm.
            strings[tag] = blob[start:end].decode("utf-8", errors="replace")

    name = strings.get(TAG_NAME, "")
    version = strings.get(TAG_VERSION, "")
    release = strings.get(TAG_RELEASE, "")
    if not name or not version:
        raise HeaderError("header has no NAME or VERSION")
    return RpmHeader(
        name=name,
        version=version,
        release=release,
        epoch=epoch,
        arch=strings.get(TAG_ARCH) or None,
        license=strings.get(TAG_LICENSE) or None,
        vendor=strings.get(TAG_VENDOR) or None,
        source_rpm=strings.get(TAG_SOURCERPM) or None,
        modularity_label=strings.get(TAG_MODULARITYLABEL) or None,
    )
