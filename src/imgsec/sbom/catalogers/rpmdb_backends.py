"""The three on-disk rpmdb formats, each reduced to "the header blobs it stores".

- sqlite (rpm >= 4.16 default): table ``Packages(hnum INTEGER PRIMARY KEY, blob BLOB)``.
- Berkeley DB hash (``Packages``, rpm < 4.16): key = instance number, value = header blob.
  Page layout from libdb ``src/dbinc/db_page.h``.
- ndb (``Packages.db``, SUSE): slot pages + 16-byte blocks, rpm ``lib/backend/ndb/rpmpkg.c``.

Each reader works on the file's bytes in memory, never on disk, and checks every offset: a damaged
record is skipped (logged by the caller), a damaged container raises :class:`BackendError`.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from typing import Literal

log = logging.getLogger(__name__)

RpmdbFormat = Literal["sqlite", "bdb", "ndb"]

SQLITE_MAGIC = b"SQLite format 3\0"
NDB_MAGIC = b"RpmP"
_BDB_HASH_MAGIC = 0x061561


class BackendError(ValueError):
    """An rpmdb container that cannot be read (internal: the cataloger logs it)."""


def detect_format(content: bytes) -> RpmdbFormat | None:
    """Which rpmdb format these bytes are, by their magic numbers (``None``: none of them)."""
    if content.startswith(SQLITE_MAGIC):
        return "sqlite"
    if content.startswith(NDB_MAGIC):
        return "ndb"
    if len(content) >= 16:
        magic_le, magic_be = (
            struct.unpack_from("<I", content, 12)[0],
            struct.unpack_from(">I", content, 12)[0],
        )
        if _BDB_HASH_MAGIC in (magic_le, magic_be):
            return "bdb"
    return None


def iter_blobs(content: bytes, fmt: RpmdbFormat) -> Iterator[bytes]:
    """The header blobs stored in an rpmdb of format ``fmt``."""
    if fmt == "sqlite":
        return iter_sqlite_blobs(content)
    if fmt == "bdb":
        return iter_bdb_blobs(content)
    return iter_ndb_blobs(content)


# --- sqlite -----------------------------------------------------------------------------------


def iter_sqlite_blobs(content: bytes) -> Iterator[bytes]:
    """Blobs of an ``rpmdb.sqlite``, read from an in-memory copy (never a file on disk)."""
    if len(content) < 100 or not content.startswith(SQLITE_MAGIC):
        raise BackendError("not an SQLite database")
    image = bytearray(content)
    # rpm keeps its database in WAL mode (header bytes 18/19 == 2); an in-memory database cannot
    # use WAL, so mark the copy as a rollback-journal database.  The WAL file itself, when an image
    # ships one, is a separate file that this reader never sees.
    image[18] = image[19] = 1
    import sqlite3  # only for sqlite rpm databases

    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(bytes(image))
        conn.execute("PRAGMA query_only = ON")
        # The schema is attacker-written: no SQL functions from views/triggers, and only a plain
        # table named Packages will do (no view, no virtual table).
        conn.execute("PRAGMA trusted_schema = OFF")
        row = conn.execute("SELECT type, sql FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if row is None or row[0] != "table" or not str(row[1]).upper().startswith("CREATE TABLE"):
            raise BackendError("SQLite database has no Packages table")
        for (blob,) in conn.execute("SELECT blob FROM Packages ORDER BY hnum"):
            if isinstance(blob, bytes):
                yield blob
            else:
                log.debug("rpmdb.sqlite: skipping a Packages row whose blob is %s", type(blob).__name__)
    except sqlite3.Error as exc:
        raise BackendError(f"SQLite database is unreadable: {exc}") from exc
    finally:
        conn.close()


# --- Berkeley DB hash ---------------------------------------------------------------------------

_BDB_PAGE_SIZES = frozenset({512, 1024, 2048, 4096, 8192, 16384, 32768, 65536})
_PAGE_HEADER = 26  # lsn(8) pgno(4) prev(4) next(4) entries(2) hf_offset(2) level(1) type(1)
_P_HASH_UNSORTED = 2
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_HASH = 13
_H_KEYDATA = 1
_H_OFFPAGE = 3


def iter_bdb_blobs(content: bytes) -> Iterator[bytes]:
    """Values of a Berkeley DB hash database (rpm's ``Packages``), skipping rpm's counter record."""
    if len(content) < 512:
        raise BackendError("file is too short to be a Berkeley DB database")
    if struct.unpack_from("<I", content, 12)[0] == _BDB_HASH_MAGIC:
        order = "<"
    elif struct.unpack_from(">I", content, 12)[0] == _BDB_HASH_MAGIC:
        order = ">"
    else:
        raise BackendError("not a Berkeley DB hash database (bad magic)")
    page_size = struct.unpack_from(order + "I", content, 20)[0]
    if page_size not in _BDB_PAGE_SIZES:
        raise BackendError(f"Berkeley DB page size {page_size} is not valid")
    if content[24] != 0:
        raise BackendError("Berkeley DB database is encrypted")
    if content[25] != _P_HASHMETA:
        raise BackendError("Berkeley DB database is not a hash database")
    last_pgno = struct.unpack_from(order + "I", content, 32)[0]
    n_pages = min(last_pgno + 1, len(content) // page_size)
    u16 = struct.Struct(order + "H")
    u32 = struct.Struct(order + "I")

    for pgno in range(1, n_pages):
        base = pgno * page_size
        page = content[base : base + page_size]
        if page[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        n_entries = u16.unpack_from(page, 20)[0]
        if _PAGE_HEADER + 2 * n_entries > page_size:
            log.debug("bdb page %d claims %d entries, more than fit", pgno, n_entries)
            continue
        offsets = [u16.unpack_from(page, _PAGE_HEADER + 2 * i)[0] for i in range(n_entries)]
        # Items are stored in key/value pairs; keys at even indexes.
        for i in range(1, n_entries, 2):
            key = _bdb_inline_item(page, offsets, i - 1, page_size)
            if key is not None and len(key) == 4 and u32.unpack(key)[0] == 0:
                continue  # rpm's record 0 holds the next instance number, not a header
            off = offsets[i]
            if off >= page_size:
                log.debug("bdb page %d item %d offset %d is outside the page", pgno, i, off)
                continue
            kind = page[off]
            if kind == _H_KEYDATA:
                value = _bdb_inline_item(page, offsets, i, page_size)
                if value is not None:
                    yield value
            elif kind == _H_OFFPAGE:
                if off + 12 > page_size:
                    log.debug("bdb page %d item %d: truncated off-page reference", pgno, i)
                    continue
                first, total = u32.unpack_from(page, off + 4)[0], u32.unpack_from(page, off + 8)[0]
                value = _bdb_overflow_chain(content, first, total, page_size, n_pages, u16, u32)
                if value is not None:
                    yield value
            # H_DUPLICATE / H_OFFDUP are not used by rpm's Packages database.


def _bdb_inline_item(page: bytes, offsets: list[int], index: int, page_size: int) -> bytes | None:
    """An on-page (H_KEYDATA) item: it runs from its offset up to the previous item's offset."""
    off = offsets[index]
    end = page_size if index == 0 else offsets[index - 1]
    if not off < end <= page_size or page[off] != _H_KEYDATA:
        return None
    return page[off + 1 : end]


def _bdb_overflow_chain(
    content: bytes,
    first: int,
    total: int,
    page_size: int,
    n_pages: int,
    u16: struct.Struct,
    u32: struct.Struct,
) -> bytes | None:
    """Concatenate the overflow pages holding one large value; ``None`` if the chain is damaged."""
    if total > len(content):
        log.debug("bdb off-page item claims %d bytes, more than the file", total)
        return None
    parts: list[bytes] = []
    got = 0
    pgno = first
    seen: set[int] = set()
    while got < total:
        if not 0 < pgno < n_pages or pgno in seen:
            log.debug("bdb overflow chain broken at page %d", pgno)
            return None
        seen.add(pgno)
        base = pgno * page_size
        if content[base + 25] != _P_OVERFLOW:
            log.debug("bdb overflow chain reaches page %d of type %d", pgno, content[base + 25])
            return None
        length = u16.unpack_from(content, base + 22)[0]  # OV_LEN: bytes used on this page
        if _PAGE_HEADER + length > page_size:
            log.debug("bdb overflow page %d claims %d bytes", pgno, length)
            return None
        parts.append(content[base + _PAGE_HEADER : base + _PAGE_HEADER + length])
        got += length
        pgno = u32.unpack_from(content, base + 16)[0]
        if pgno == 0:
            break
    value = b"".join(parts)
    if len(value) < total:
        log.debug("bdb overflow chain ends after %d of %d bytes", len(value), total)
        return None
    return value[:total]


# --- ndb ----------------------------------------------------------------------------------------

_NDB_PAGE = 4096
_NDB_SLOT = 16
_NDB_BLK = 16
_NDB_HEADER = 32
_NDB_BLOB_HEAD = 16
_NDB_BLOB_TAIL = 12
_SLOT_MAGIC = b"Slot"
_BLOB_HEAD_MAGIC = b"BlbS"
_BLOB_TAIL_MAGIC = b"BlbE"


def iter_ndb_blobs(content: bytes) -> Iterator[bytes]:
    """Blobs of an ndb ``Packages.db``; each blob's adler32 is verified as rpm does."""
    if len(content) < _NDB_HEADER or not content.startswith(NDB_MAGIC):
        raise BackendError("not an ndb database (bad magic)")
    version, _generation, slot_pages = struct.unpack_from("<III", content, 4)
    if version != 0:
        raise BackendError(f"ndb database version {version} is not supported")
    if slot_pages == 0 or slot_pages * _NDB_PAGE > len(content):
        raise BackendError(f"ndb database claims {slot_pages} slot pages but has {len(content)} bytes")
    file_blks = len(content) // _NDB_BLK
    min_blkoff = slot_pages * (_NDB_PAGE // _NDB_BLK)
    for slot_off in range(_NDB_HEADER, slot_pages * _NDB_PAGE, _NDB_SLOT):
        if content[slot_off : slot_off + 4] != _SLOT_MAGIC:
            raise BackendError(f"ndb slot at byte {slot_off} has a bad magic")
        pkgidx, blkoff, blkcnt = struct.unpack_from("<III", content, slot_off + 4)
        if blkoff == 0:
            continue  # free slot
        if pkgidx == 0 or blkcnt == 0 or blkoff < min_blkoff or blkoff + blkcnt > file_blks:
            log.debug("ndb slot for package %d points outside the file", pkgidx)
            continue
        blob = _ndb_blob(content, pkgidx, blkoff, blkcnt)
        if blob is not None:
            yield blob


def _ndb_blob(content: bytes, pkgidx: int, blkoff: int, blkcnt: int) -> bytes | None:
    start = blkoff * _NDB_BLK
    end = start + blkcnt * _NDB_BLK
    head_magic = content[start : start + 4]
    head_idx, _generation, blob_len = struct.unpack_from("<III", content, start + 4)
    if head_magic != _BLOB_HEAD_MAGIC or head_idx != pkgidx:
        log.debug("ndb blob for package %d has a bad head", pkgidx)
        return None
    if blkcnt != (_NDB_BLOB_HEAD + blob_len + _NDB_BLOB_TAIL + _NDB_BLK - 1) // _NDB_BLK:
        log.debug("ndb blob for package %d: length %d does not match %d blocks", pkgidx, blob_len, blkcnt)
        return None
    tail = end - _NDB_BLOB_TAIL
    adler, tail_len = struct.unpack_from("<II", content, tail)
    if content[tail + 8 : tail + 12] != _BLOB_TAIL_MAGIC or tail_len != blob_len:
        log.debug("ndb blob for package %d has a bad tail", pkgidx)
        return None
    if zlib.adler32(content[start:tail]) != adler:
        log.debug("ndb blob for package %d fails its adler32 check", pkgidx)
        return None
    return content[start + _NDB_BLOB_HEAD : start + _NDB_BLOB_HEAD + blob_len]
