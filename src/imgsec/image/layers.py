"""Stream layers once and route the files of interest to whoever asked for them.

Nothing is extracted to disk.  Each layer blob is read once, decompressed (gzip through ``isal``,
zstd, or plain tar: chosen by the blob's leading bytes, not by its claimed media type) while its
compressed digest and its diff_id are verified, and every tar entry is treated as hostile.

The result of one layer (:class:`LayerResult`) depends on that layer alone, so it can be cached by
digest.  :func:`squash` then applies the layers in order (whiteouts, opaque directories,
directories replaced by files) to give the final filesystem view of the wanted files.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import queue
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Generic, Protocol, TypeVar

import zstandard
from isal import igzip, isal_zlib

from imgsec.errors import DigestMismatchError, ImgsecError, InputError, UnsafeContentError
from imgsec.image import inflate
from imgsec.image.model import Image, Layer, VerifyingReader
from imgsec.image.tarstream import TarReader
from imgsec.sbom.catalogers.base import FileInfo, PathHints

if TYPE_CHECKING:
    from imgsec.image.cache import LayerCache

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_READ_SIZE = 1 << 20
MAX_PATH_LENGTH = 4096
MAX_ENTRIES_PER_LAYER = 2_000_000
_KEEP_FILE_MAX = 1 << 20
_KEEP_TOTAL_MAX = 16 << 20


class Route(Protocol[T_co]):
    """Anything that wants some files of a layer: catalogers, detectors, secret scanners.

    A route may also have a ``hints`` attribute (:class:`PathHints`): where its files can be, so
    the reader calls ``wants`` only for paths that match them.
    """

    @property
    def name(self) -> str: ...

    @property
    def magic(self) -> tuple[bytes, ...]: ...

    @property
    def max_size(self) -> int: ...

    def wants(self, info: FileInfo) -> bool: ...

    def analyze(self, info: FileInfo, content: bytes) -> Sequence[T_co]: ...


@dataclass(frozen=True)
class FunctionRoute(Generic[T]):
    """A :class:`Route` made of plain callables (adapts a Cataloger, or a "keep this file" rule)."""

    name: str
    wants_fn: Callable[[FileInfo], bool]
    analyze_fn: Callable[[FileInfo, bytes], Sequence[T]]
    magic: tuple[bytes, ...] = ()
    max_size: int = 64 * 1024 * 1024
    hints: PathHints | None = None

    def wants(self, info: FileInfo) -> bool:
        return self.wants_fn(info)

    def analyze(self, info: FileInfo, content: bytes) -> Sequence[T]:
        return self.analyze_fn(info, content)


@dataclass
class LayerResult:
    """What one layer holds of interest, independent of every other layer."""

    layer: str | None
    #: route name -> path -> results of that route for the file at path
    results: dict[str, dict[str, Sequence[Any]]] = field(default_factory=dict)
    whiteouts: set[str] = field(default_factory=set)
    opaque_dirs: set[str] = field(default_factory=set)
    #: every non-directory entry (they hide lower files and directories at the same path)
    non_dirs: set[str] = field(default_factory=set)
    symlinks: dict[str, str] = field(default_factory=dict)
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    #: every directory entry -> its permission bits (``mode & 0o7777``, so sticky ``0o1000`` shows);
    #: bookkeeping for the world-writable directory check, never routed
    dir_modes: dict[str, int] = field(default_factory=dict)


def normalize_entry_path(name: str) -> str:
    """The image-root-relative path of a tar entry; raises on absolute paths and ``..`` escapes."""
    if len(name) > MAX_PATH_LENGTH or "\x00" in name:
        raise UnsafeContentError(f"tar entry name is too long or contains NUL: {name[:80]!r}")
    if name.startswith("/"):
        raise UnsafeContentError(f"tar entry {name[:200]!r} has an absolute path; refusing a hostile layer")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeContentError(
                f"tar entry {name[:200]!r} escapes the image root with '..'; refusing a hostile layer"
            )
        parts.append(part)
    return "/".join(parts)


class _Router:
    """Which routes want a file: ``wants`` is called only where a route's path hints allow it."""

    def __init__(self, routes: Sequence[Route[Any]]) -> None:
        WantsFn = Callable[[FileInfo], bool]
        self.always: list[tuple[Route[Any], WantsFn]] = []
        self.exact: dict[str, list[tuple[Route[Any], WantsFn]]] = {}
        self.by_prefix: list[tuple[tuple[str, ...], Route[Any], WantsFn]] = []
        self.by_suffix: list[tuple[tuple[str, ...], Route[Any], WantsFn]] = []
        for route in routes:
            hints = getattr(route, "hints", None)
            wants = route.wants  # looked up once, not once per file
            if not isinstance(hints, PathHints):
                self.always.append((route, wants))
                continue
            for path in hints.exact:
                self.exact.setdefault(path, []).append((route, wants))
            if hints.prefixes:
                self.by_prefix.append((hints.prefixes, route, wants))
            if hints.suffixes:
                self.by_suffix.append((hints.suffixes, route, wants))
        self.prefixes = tuple(p for group, _, _ in self.by_prefix for p in group)
        self.suffixes = tuple(s for group, _, _ in self.by_suffix for s in group)

    def interested(self, info: FileInfo) -> list[Route[Any]]:
        path = info.path
        out = [r for r, wants in self.always if wants(info)]
        hinted = self.exact.get(path, [])
        if path.startswith(self.prefixes):
            hinted = hinted + [(r, w) for group, r, w in self.by_prefix if path.startswith(group)]
        if path.endswith(self.suffixes):
            hinted = hinted + [(r, w) for group, r, w in self.by_suffix if path.endswith(group)]
        for route, wants in hinted:
            if route not in out and wants(info):
                out.append(route)
        return out


def _check_magic(route: Route[Any], head: bytes) -> bool:
    return not route.magic or any(head.startswith(m) for m in route.magic)


def _read_exact(f: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = f.read(min(remaining, _READ_SIZE))
        if not chunk:
            raise InputError("tar entry is shorter than its header claims; the layer is truncated")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _Reader:
    """Minimal file-like base: subclasses implement ``read``; gzip readers also want ``readinto``."""

    def read(self, n: int = -1) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _HashingReader(_Reader):
    """Hashes the decompressed tar stream to check the layer's diff_id at EOF."""

    def __init__(self, raw: IO[bytes], diff_id: str | None, what: str) -> None:
        self._raw = raw
        self._diff_id = diff_id
        self._what = what
        self._hash = hashlib.sha256() if diff_id and diff_id.startswith("sha256:") else None
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.size += len(data)
            if self._hash is not None:
                self._hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(_READ_SIZE):
            pass

    def verify(self) -> None:
        if self._hash is not None and self._diff_id is not None:
            actual = "sha256:" + self._hash.hexdigest()
            if actual != self._diff_id:
                raise DigestMismatchError(
                    f"{self._what}: uncompressed content {actual} does not match the config's diff_id "
                    f"{self._diff_id}; the image is corrupt or was tampered with"
                )


class _Prefetcher(_Reader):
    """Reads (and so decompresses and hashes) the next chunks on a second thread.

    Decompression (isal, zstd) and hashing release the GIL, so they overlap with tar parsing on
    the main thread; at most ``depth`` chunks are buffered, so memory stays flat.
    """

    _END = b""

    def __init__(self, raw: _Reader, depth: int = 4) -> None:
        self._raw = raw
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buf = b""
        self._done = False
        self._thread = threading.Thread(target=self._run, name="imgsec-layer-reader", daemon=True)

    def __enter__(self) -> _Prefetcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._raw.read(_READ_SIZE)
                if not self._put(chunk) or not chunk:
                    return
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._put(exc)

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        if not self._buf:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return b""
            self._buf = item
        if n is None or n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class _Prefixed(_Reader):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out = self._head + self._raw.read()
                self._head = b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._raw.read(n - len(out))
            return out
        return self._raw.read(n)


def decompressed(raw: IO[bytes]) -> IO[bytes]:
    """A decompressing reader chosen by the stream's magic bytes (gzip, zstd, or plain tar)."""
    head = raw.read(4)
    stream: Any = _Prefixed(head, raw)
    if head.startswith(GZIP_MAGIC):
        gz: IO[bytes] = igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[no-untyped-call,assignment]
        return gz
    if head.startswith(ZSTD_MAGIC):
        zs: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(
            stream, read_size=_READ_SIZE, read_across_frames=True
        )
        return zs
    plain: IO[bytes] = stream
    return plain


# isal's stubs declare its error class as an instance ("error: Exception"); it is the class.
_ISAL_ERROR: type[BaseException] = isal_zlib.error  # type: ignore[assignment]
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    zstandard.ZstdError,
    ValueError,
    igzip.BadGzipFile,
    _ISAL_ERROR,  # an invalid deflate block (IsalError is no OSError); found by tests/unit/test_layer_fuzz.py
)


def walk_layer(
    open_raw: Callable[[], AbstractContextManager[BinaryIO]],
    routes: Sequence[Route[Any]],
    *,
    layer: str | None,
    what: str,
    on_bytes: Callable[[int], None] | None = None,
    helper_min_size: int | None = None,
    helper: inflate.HelperStream | None = None,
) -> LayerResult:
    """Stream one layer blob and return what the routes found in it.

    ``open_raw`` opens the (possibly compressed) blob; it is called again only when a wanted
    hardlink points at a file the first pass did not keep.  Local blobs of ``helper_min_size``
    bytes or more (default :data:`imgsec.image.inflate.HELPER_MIN_SIZE`) are decompressed by a
    helper process; ``helper`` is one already started on this blob (see :func:`start_helper`).
    Raises :class:`InputError` (or a subclass) on corrupt, truncated, hostile or mismatching
    content; nothing is written anywhere.
    """
    result = LayerResult(layer=layer, results={r.name: {} for r in routes})
    pending_links: dict[str, list[str]] = {}
    try:
        if helper is not None:
            helper.on_bytes = on_bytes
            with helper:
                pending_links = _walk_entries(TarReader(helper), routes, result, layer, what, None)
        else:
            with open_raw() as raw:
                min_size = inflate.HELPER_MIN_SIZE if helper_min_size is None else helper_min_size
                pending_links = _walk_stream(raw, routes, result, layer, what, on_bytes, min_size)
        if pending_links:
            with open_raw() as raw:
                _resolve_hardlinks(raw, routes, result, layer, pending_links)
    except ImgsecError:
        raise
    except _DECODE_ERRORS as exc:
        raise InputError(
            f"{what}: cannot read layer ({type(exc).__name__}: {exc}); it is corrupt or truncated"
        ) from exc
    return result


def start_helper(
    open_raw: Callable[[], AbstractContextManager[BinaryIO]], layer: str | None, what: str
) -> inflate.HelperStream | None:
    """Start decompressing a local blob of :data:`~imgsec.image.inflate.HELPER_MIN_SIZE` or more
    in a helper process now (to be read later by :func:`walk_layer`); None for other blobs."""
    with open_raw() as raw:
        return _helper_for(raw, layer, what, inflate.HELPER_MIN_SIZE)


def _helper_for(
    raw: BinaryIO,
    layer: str | None,
    what: str,
    min_size: int,
    on_bytes: Callable[[int], None] | None = None,
) -> inflate.HelperStream | None:
    """A helper for a local blob of ``min_size`` bytes or more (None: read it in-process)."""
    if not isinstance(raw, VerifyingReader) or raw.region is None or raw.region.size < min_size:
        return None
    return inflate.try_start(raw.region, raw.digest, layer, what, on_bytes)


def _walk_stream(
    raw: BinaryIO,
    routes: Sequence[Route[Any]],
    result: LayerResult,
    layer: str | None,
    what: str,
    on_bytes: Callable[[int], None] | None,
    helper_min_size: int,
) -> dict[str, list[str]]:
    # A local blob: a helper process decompresses it while this one parses and verifies.
    helper = _helper_for(raw, layer, what, helper_min_size, on_bytes)
    if helper is not None:
        with helper:
            return _walk_entries(TarReader(helper), routes, result, layer, what, None)
    counted = _CountingReader(raw, on_bytes)
    hashed = _HashingReader(decompressed(counted), layer, what)  # type: ignore[arg-type]
    with _Prefetcher(hashed) as ahead:
        return _walk_entries(TarReader(ahead), routes, result, layer, what, hashed)


def _walk_entries(
    tar: TarReader,
    routes: Sequence[Route[Any]],
    result: LayerResult,
    layer: str | None,
    what: str,
    hashed: _HashingReader | None,
) -> dict[str, list[str]]:
    # Hardlinks point at an earlier entry of the same layer.  Small wanted files are kept (within a
    # budget) so a link to them is analyzed without a second pass; for the others we remember the
    # first bytes and whether the routes found anything, which settles most links too.
    kept: dict[str, bytes] = {}
    kept_bytes = 0
    seen: dict[str, tuple[int, int, bytes, bool]] = {}
    pending: dict[str, list[str]] = {}
    interested_in = _Router(routes).interested
    whiteouts, opaque_dirs, non_dirs, symlinks, dir_modes = (
        result.whiteouts,
        result.opaque_dirs,
        result.non_dirs,
        result.symlinks,
        result.dir_modes,
    )
    entries = 0
    files = 0
    for member in tar:
        entries += 1
        if entries > MAX_ENTRIES_PER_LAYER:
            raise UnsafeContentError(f"{what}: more than {MAX_ENTRIES_PER_LAYER} entries; refusing")
        name = member.name
        if (
            name.startswith(("/", "."))
            or "/." in name
            or "//" in name
            or len(name) > MAX_PATH_LENGTH
            or "\x00" in name
        ):
            path = normalize_entry_path(name)  # the careful way, for anything unusual
        else:
            path = name[:-1] if name.endswith("/") else name
        if not path:
            continue
        slash = path.rfind("/")
        base = path[slash + 1 :]
        if base.startswith(WHITEOUT_PREFIX):
            parent = path[:slash] if slash >= 0 else ""
            if base == OPAQUE_MARKER:
                opaque_dirs.add(parent)
            else:
                whiteouts.add(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
            continue
        if member.is_dir:
            dir_modes[path] = member.mode & 0o7777  # one store: cheaper than a set plus an `if`
            continue
        non_dirs.add(path)
        if member.is_symlink:
            symlinks[path] = member.linkname
            continue
        if member.is_hardlink:
            target = normalize_entry_path(member.linkname)
            if target not in seen:
                if any(r.wants(FileInfo(path, member.mode & 0o7777, 0, layer)) for r in routes):
                    pending.setdefault(target, []).append(path)
                continue
            size, mode, head, found_any = seen[target]
            info = FileInfo(path, mode, size, layer)
            interested = [r for r in routes if r.wants(info) and size <= r.max_size and _check_magic(r, head)]
            if not interested:
                continue
            if target in kept:
                _analyze(info, kept[target], interested, result)
            elif found_any:
                pending.setdefault(target, []).append(path)
            continue
        if not member.is_file:
            continue  # devices, fifos, sparse files: nothing to read, nothing is created
        files += 1
        size = member.size
        info = FileInfo(path, member.mode & 0o7777, size, layer)
        interested = interested_in(info)
        if not interested:
            continue
        head = tar.peek_data(16)
        interested = [
            r for r in interested if size <= r.max_size and (not r.magic or head.startswith(r.magic))
        ]
        if not interested:
            seen[path] = (size, info.mode, head, False)
            continue
        content = tar.read_data(size)
        found_any = _analyze(info, content, interested, result)
        seen[path] = (size, info.mode, head, found_any)
        if size <= _KEEP_FILE_MAX:
            kept[path] = content
            kept_bytes += size
            while kept_bytes > _KEEP_TOTAL_MAX:
                kept_bytes -= len(kept.pop(next(iter(kept))))
    result.files += files
    tar.drain()
    if hashed is not None:
        hashed.verify()
    return pending


def _resolve_hardlinks(
    raw: BinaryIO,
    routes: Sequence[Route[Any]],
    result: LayerResult,
    layer: str | None,
    pending: dict[str, list[str]],
) -> None:
    found: set[str] = set()
    tar = TarReader(decompressed(raw))
    for member in tar:
        path = normalize_entry_path(member.name)
        if path not in pending or not member.is_file:
            continue
        size = member.size
        content: bytes | None = None
        for link in pending[path]:
            info = FileInfo(link, member.mode & 0o7777, size, layer)
            interested = [r for r in routes if r.wants(info) and size <= r.max_size]
            if not interested:
                continue
            if content is None:
                content = tar.read_data(size)
            interested = [r for r in interested if _check_magic(r, content[:16])]
            _analyze(info, content, interested, result)
        found.add(path)
    for target, links in pending.items():
        if target not in found:
            for link in links:
                result.skipped.append(link)
                log.warning(
                    "%s: hardlink %s points to %s, which is not in this layer; skipped", layer, link, target
                )


def _analyze(info: FileInfo, content: bytes, routes: Iterable[Route[Any]], result: LayerResult) -> bool:
    """Run the routes on one file; True if any of them found something."""
    found_any = False
    for route in routes:
        if not route.wants(info):
            continue
        try:
            found = route.analyze(info, content)
        except ImgsecError:
            raise
        except Exception as exc:  # a bug in one analyzer must not hide the others' results
            log.warning("%s failed on %s: %s: %s", route.name, info.path, type(exc).__name__, exc)
            continue
        result.results[route.name][info.path] = found
        found_any = found_any or bool(found)
    return found_any


class _CountingReader(_Reader):
    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data and self._on_bytes is not None:
            self._on_bytes(len(data))
        return data

    def drain(self) -> None:
        while self.read(_READ_SIZE):
            pass


@dataclass(frozen=True)
class Placed(Generic[T]):
    """A route result in the final filesystem: the path, the layer it sits in, and the results."""

    path: str
    layer_index: int
    results: Sequence[T]


@dataclass
class FinalView:
    """The squashed view: route name -> path -> where it is and what the route found there."""

    results: dict[str, dict[str, Placed[Any]]]
    symlinks: dict[str, str]

    def placed(self, route: str) -> Iterator[Placed[Any]]:
        yield from self.results.get(route, {}).values()

    def resolve(self, path: str, max_depth: int = 40) -> str:
        """Follow symlinks (within the image root) in the final view; loops end at ``max_depth``."""
        for _ in range(max_depth):
            hit = None
            parts = path.split("/")
            for i in range(len(parts), 0, -1):
                prefix = "/".join(parts[:i])
                if prefix in self.symlinks:
                    hit = (prefix, "/".join(parts[i:]))
                    break
            if hit is None:
                return path
            prefix, rest = hit
            target = self.symlinks[prefix]
            base = "" if target.startswith("/") else posixpath.dirname(prefix)
            joined = posixpath.normpath(posixpath.join("/", base, target, rest)).lstrip("/")
            path = joined
        return path


def _ancestors(path: str) -> Iterator[str]:
    """``a/b/c`` -> ``a/b``, ``a`` (paths are normalised: no leading, trailing or double slash)."""
    end = path.rfind("/")
    while end > 0:
        yield path[:end]
        end = path.rfind("/", 0, end)


def squash(
    layers: Sequence[LayerResult],
    carry: Callable[[Sequence[Any], Sequence[Any]], Sequence[Any]] | None = None,
) -> FinalView:
    """Apply layers in order: whiteouts and opaque dirs hide lower files, later files replace earlier ones.

    ``carry(old, new)`` may merge results when a later layer rewrites a file (used to keep the layer
    that first introduced an unchanged package).
    """
    state: dict[str, dict[str, Placed[Any]]] = {}
    links: dict[str, tuple[int, str]] = {}
    # Every directory above a held path (counted once per holder), so a layer's whiteouts, opaque
    # dirs and files are checked against it in one set lookup each, not against every held path.
    held_dirs: Counter[str] = Counter()
    ancestors_of: dict[str, tuple[str, ...]] = {}

    def ancestors(path: str) -> tuple[str, ...]:
        found = ancestors_of.get(path)
        if found is None:
            found = ancestors_of[path] = tuple(_ancestors(path))
        return found

    def hold(path: str) -> None:
        held_dirs.update(ancestors(path))

    def release(path: str) -> None:
        held_dirs.subtract(ancestors(path))  # counts may reach 0: "held" means a count above 0

    def doomed(held: Mapping[str, object], layer: LayerResult, hiding: set[str]) -> set[str]:
        keys = held.keys()
        out = (keys & layer.whiteouts) | (keys & layer.non_dirs)
        if hiding:  # a directory above held paths was deleted, made opaque or replaced by a file
            out.update(p for p in keys if not hiding.isdisjoint(ancestors(p)))
        return out

    for index, layer in enumerate(layers):
        hiding = {
            d
            for group in (layer.whiteouts, layer.opaque_dirs, layer.non_dirs)
            for d in group
            if held_dirs.get(d, 0) > 0
        }
        for per_route in state.values():
            for path in doomed(per_route, layer, hiding):
                del per_route[path]
                release(path)
        for path in doomed(links, layer, hiding):
            del links[path]
            release(path)
        for route, found in layer.results.items():
            per_route = state.setdefault(route, {})
            for path, res in found.items():
                old = per_route.get(path)
                merged = carry(old.results, res) if carry is not None and old is not None else res
                per_route[path] = Placed(path, index, merged)
                if old is None:
                    hold(path)
        for path, target in layer.symlinks.items():
            if path not in links:
                hold(path)
            links[path] = (index, target)
    return FinalView(results=state, symlinks={p: t for p, (_, t) in links.items()})


def walk_directory(root: str, routes: Sequence[Route[Any]], *, layer: str | None = None) -> LayerResult:
    """Treat a root filesystem directory (``dir:ROOTFS``) as one layer.

    Symlinks are recorded, never followed; only regular files are opened (with O_NOFOLLOW).
    Directories below the root are recorded with their mode (``dir_modes``), like tar entries.
    """
    import os
    import stat

    result = LayerResult(layer=layer, results={r.name: {} for r in routes})
    base = os.path.abspath(root)
    if not os.path.isdir(base):
        raise InputError(f"dir:{root}: not a directory")
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        rel_dir = os.path.relpath(dirpath, base)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        names = list(filenames)
        # os.walk lists symlinks to directories among dirnames; they are links, not places to descend.
        for d in list(dirnames):
            try:
                dst = os.lstat(os.path.join(dirpath, d))
            except OSError:
                continue
            if stat.S_ISLNK(dst.st_mode):
                dirnames.remove(d)
                names.append(d)
            else:
                result.dir_modes[f"{rel_dir}/{d}" if rel_dir else d] = dst.st_mode & 0o7777
        for fname in names:
            full = os.path.join(dirpath, fname)
            path = f"{rel_dir}/{fname}" if rel_dir else fname
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                result.non_dirs.add(path)
                try:
                    result.symlinks[path] = os.readlink(full)
                except OSError:
                    pass
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            result.non_dirs.add(path)
            result.files += 1
            info = FileInfo(path, st.st_mode & 0o7777, st.st_size, layer)
            interested = [r for r in routes if r.wants(info) and st.st_size <= r.max_size]
            if not interested:
                continue
            try:
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                log.warning("dir:%s: cannot read %s: %s", root, path, exc.strerror)
                continue
            with os.fdopen(fd, "rb") as f:
                head = f.read(16)
                interested = [r for r in interested if _check_magic(r, head)]
                if not interested:
                    continue
                content = head + f.read(st.st_size - len(head))
            _analyze(info, content, interested, result)
    return result


def prestart(image: Image, cache: LayerCache | None = None) -> dict[int, inflate.HelperStream | None]:
    """Start the helper of the first layer that is not cached, before the caller builds its routes
    (importing every cataloger takes as long as starting a helper); pass the result to
    :func:`read_layers` as ``started``."""
    for position, layer in enumerate(image.layers):
        if image.rootfs is not None:
            break
        if cache is not None and layer.diff_id and cache.has(layer.diff_id):
            continue
        return {
            position: start_helper(
                partial(image.open_blob, layer.descriptor), layer.diff_id, _what(image, layer)
            )
        }
    return {}


def _what(image: Image, layer: Layer) -> str:
    return f"{image.name}: layer {layer.index} ({layer.digest[:19]})"


def read_layers(
    image: Image,
    routes: Sequence[Route[Any]],
    *,
    on_bytes: Callable[[int], None] | None = None,
    on_layer: Callable[[int, LayerResult], None] | None = None,
    cache: LayerCache | None = None,
    started: dict[int, inflate.HelperStream | None] | None = None,
) -> list[LayerResult]:
    """Stream each layer of ``image`` once through ``routes`` (a ``dir:`` image is one layer).

    With ``cache``, a layer whose diff_id was already read by these routes is not read again.
    ``started`` holds helpers from :func:`prestart` (closed here whatever happens).
    """
    ahead: dict[int, inflate.HelperStream | None] = dict(started or {})
    try:
        return _read_layers(image, routes, on_bytes, on_layer, cache, ahead)
    finally:
        for helper in ahead.values():
            if helper is not None:
                helper.close()


def _read_layers(
    image: Image,
    routes: Sequence[Route[Any]],
    on_bytes: Callable[[int], None] | None,
    on_layer: Callable[[int, LayerResult], None] | None,
    cache: LayerCache | None,
    ahead: dict[int, inflate.HelperStream | None],
) -> list[LayerResult]:
    if image.rootfs is not None:
        result = walk_directory(image.rootfs, routes)
        if on_layer:
            on_layer(0, result)
        return [result]
    names = [r.name for r in routes]
    todo: list[tuple[Layer, LayerResult | None]] = [
        (layer, cache.get(layer.diff_id, names) if cache is not None and layer.diff_id else None)
        for layer in image.layers
    ]

    def opener(layer: Layer) -> Callable[[], AbstractContextManager[BinaryIO]]:
        return partial(image.open_blob, layer.descriptor)

    # While one layer is parsed, the helper of the next layer to read starts decompressing it.
    results = []
    for position, (layer, cached) in enumerate(todo):
        if cached is not None:
            if on_bytes:
                on_bytes(layer.descriptor.size)
            result = cached
        else:
            helper = ahead.pop(position) if position in ahead else None
            following = next((i for i in range(position + 1, len(todo)) if todo[i][1] is None), None)
            if following is not None and following not in ahead:
                nxt = todo[following][0]
                ahead[following] = start_helper(opener(nxt), nxt.diff_id, _what(image, nxt))
            result = walk_layer(
                opener(layer),
                routes,
                layer=layer.diff_id,
                what=_what(image, layer),
                on_bytes=on_bytes,
                helper=helper,
            )
            if cache is not None and layer.diff_id:
                cache.put(layer.diff_id, result)
        if on_layer:
            on_layer(layer.index, result)
        results.append(result)
    return results
