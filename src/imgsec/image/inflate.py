"""Decompress big local layer blobs in a helper process, so decompression overlaps tar parsing.

isal's decompressor holds the GIL, and the GIL hand-over between a decompressing thread and the
parsing thread costs more than it saves, so a second thread gives no overlap.  A helper process
does: it reads the blob straight from the file descriptor the source already opened (with
``O_NOFOLLOW``; nothing is re-opened by path) and writes the tar stream into a pipe that
:class:`HelperStream` reads and verifies (blob digest and diff_id).

The helper is this interpreter run isolated (``-I -S``) with only the two decompression
libraries on its path; it starts in about 10 ms, so it is used for blobs of
:data:`HELPER_MIN_SIZE` and more.  It writes nothing but the tar stream and, on failure, one
line on stderr; :meth:`HelperStream.read` turns that into the same errors the in-process reader
raises, at the end of the stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from imgsec.errors import DigestMismatchError, ExternalError, InputError
from imgsec.image.model import FileRegion

log = logging.getLogger(__name__)

#: Compressed blobs at least this big are decompressed by a helper process.
HELPER_MIN_SIZE = 1 << 20
_PIPE_SIZE = 1 << 20
_READ_SIZE = 1 << 20

# glibc: keep the helper's 1 MiB buffers on its heap instead of mapping and faulting in fresh pages
# for each one (a quarter of its page faults, measurably less system time).
_HELPER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(8 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}

# The helper's exit code for a corrupt or truncated blob (it writes the reason on stderr).
_EXIT_CORRUPT = 5

_HELPER = r"""
import itertools, os, sys

def fail(code, message):
    os.write(2, message.encode("utf-8", "replace")[:1000])
    os._exit(code)

def main():
    fd, offset, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sys.path[:0] = sys.argv[4:]
    os.lseek(fd, offset, os.SEEK_SET)

    def blob():
        left = size
        while left > 0:
            data = os.read(fd, min(left, 128 << 10))
            if not data:
                fail(5, f"the blob ends after {size - left} of its {size} bytes; truncated")
            left -= len(data)
            yield data

    def gunzip(chunks):
        # isal_zlib, not isal.igzip: igzip imports typing and gzip (10 ms of start-up).  Members
        # follow each other; NUL padding after a member is skipped (as Python's gzip module does);
        # anything else after a member that is not another member is an error.
        from isal import isal_zlib
        d, fed, started = isal_zlib.decompressobj(31), False, False
        for data in chunks:
            while data:
                if started and not fed:
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                fed = started = True
                out = d.decompress(data, 1 << 20)
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    d, fed = isal_zlib.decompressobj(31), False
                else:
                    data = d.unconsumed_tail
        while fed:
            out = d.decompress(b"", 1 << 20)  # output still held back by the size limit
            if out:
                yield out
            elif d.eof:
                break
            else:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")

    def unzstd(chunks):
        import zstandard

        class Source:
            buf = b""
            def read(self, n=-1):
                if not self.buf:
                    self.buf = next(chunks, b"")
                out, self.buf = self.buf[:n], self.buf[n:]
                return out

        reader = zstandard.ZstdDecompressor().stream_reader(Source(), read_size=1 << 20, read_across_frames=True)
        while out := reader.read(1 << 20):
            yield out

    chunks = blob()
    first = next(chunks, b"")
    rest = itertools.chain((first,), chunks)
    if first.startswith(b"\x1f\x8b"):
        stream = gunzip(rest)
    elif first.startswith(b"\x28\xb5\x2f\xfd"):
        stream = unzstd(rest)
    else:
        stream = rest
    try:
        for chunk in stream:
            view = memoryview(chunk)
            while view:
                view = view[os.write(1, view):]
    except BrokenPipeError:
        os._exit(0)  # the reader stopped early (it failed on its own); nothing more to say
    except Exception as exc:  # EOFError, isal_zlib.error, zstandard.ZstdError, OSError...
        fail(5, f"cannot read layer ({type(exc).__name__}: {exc}); it is corrupt or truncated")
try:
    main()
except BaseException as exc:
    fail(5, f"cannot read layer ({type(exc).__name__}); it is corrupt or truncated")
"""


#: Why helpers cannot run here (set on the first failure to start one), or empty.
_unavailable: list[str] = ["a frozen interpreter cannot run -c"] if getattr(sys, "frozen", False) else []


def try_start(
    region: FileRegion,
    digest: str,
    diff_id: str | None,
    what: str,
    on_bytes: Callable[[int], None] | None = None,
) -> HelperStream | None:
    """A :class:`HelperStream` for the blob, or None when no helper can run here (the caller then
    decompresses in-process; after one failure to start, helpers are not tried again)."""
    if _unavailable:
        return None
    try:
        return HelperStream(region, digest, diff_id, what, on_bytes)
    except ExternalError as exc:
        _unavailable.append(str(exc))
        log.info("decompressing in-process: %s", exc)
        return None


def _library_paths() -> list[str]:
    """Where isal and zstandard are installed (the helper runs without site-packages)."""
    import isal
    import zstandard

    paths: list[str] = []
    for mod in (isal, zstandard):
        if mod.__file__:
            parent = str(Path(mod.__file__).resolve().parent.parent)
            if parent not in paths:
                paths.append(parent)
    return paths


class HelperStream:
    """The tar stream of one blob, decompressed by a helper process, verified here.

    The helper only decompresses.  This process checks the blob digest (hashing the blob's bytes
    just behind the helper, through its own descriptor, so the two processes share the work) and
    the diff_id of the tar stream it parses; the diff_id alone already binds what is parsed to
    the image config, so bytes changing on disk between the two reads cannot slip through.

    A context manager; leaving it early stops the helper.  ``on_bytes`` is told how much of the
    compressed blob has been read.  The opener's file may be closed once this is constructed.
    """

    def __init__(
        self,
        region: FileRegion,
        digest: str,
        diff_id: str | None,
        what: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._region = region
        self._what = what
        self.on_bytes = on_bytes
        self._done = False
        algo, _, self._blob_want = digest.partition(":")
        self._digest = digest
        self._blob_hash = hashlib.new(algo)
        self._hashed = 0
        algo, _, self._diff_want = (diff_id or "").partition(":")
        self._diff_id = diff_id
        self._tar_hash = hashlib.new(algo) if algo in ("sha256", "sha512") else None
        args = [str(region.fd), str(region.offset), str(region.size), *_library_paths()]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(region.fd,),
                bufsize=0,
                env={**os.environ, **_HELPER_MALLOC},
            )
        except OSError as exc:
            raise ExternalError(f"{what}: cannot start the decompression helper ({exc.strerror})") from exc
        # Our own handle on the blob: it shares the helper's file offset (how far it has read)
        # and outlives the opener's (a layer's helper starts while the previous one is parsed).
        self._fd = os.dup(region.fd)
        assert self._proc.stdout is not None
        self._out = self._proc.stdout
        with contextlib.suppress(OSError):  # a bigger pipe means fewer, larger reads
            fcntl.fcntl(self._out.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)

    def __enter__(self) -> HelperStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()

    def readable(self) -> bool:
        return True

    def _hash_blob(self, upto: int) -> None:
        """Hash the blob up to ``upto`` bytes (reported as progress)."""
        start = self._hashed
        while self._hashed < upto:
            data = os.pread(
                self._fd, min(upto - self._hashed, _READ_SIZE), self._region.offset + self._hashed
            )
            if not data:
                raise DigestMismatchError(
                    f"{self._what}: {self._hashed} bytes, but its descriptor declares {self._region.size}; "
                    "truncated or corrupt"
                )
            self._blob_hash.update(data)
            self._hashed += len(data)
        if self.on_bytes is not None and self._hashed > start:
            self.on_bytes(self._hashed - start)

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        data = self._out.read(_READ_SIZE if n is None or n < 0 else n)
        if data:
            if self._tar_hash is not None:
                self._tar_hash.update(data)
            try:
                helper_at = os.lseek(self._fd, 0, os.SEEK_CUR) - self._region.offset
            except OSError:
                helper_at = 0
            self._hash_blob(min(max(helper_at, 0), self._region.size))
            return data
        self._finish()
        return b""

    def readinto(self, b: bytearray | memoryview) -> int:
        data = self.read(len(b))
        memoryview(b)[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._done = True
        code = self._proc.wait()
        if code != 0:
            assert self._proc.stderr is not None
            lines = self._proc.stderr.read(2000).decode("utf-8", "replace").strip().splitlines()
            reason = lines[0] if lines else f"the decompression helper exited with status {code}"
            if code == _EXIT_CORRUPT:
                raise InputError(f"{self._what}: {reason}")
            raise ExternalError(f"{self._what}: {reason}")
        self._hash_blob(self._region.size)
        if self._blob_hash.hexdigest() != self._blob_want:
            raise DigestMismatchError(
                f"{self._what}: content does not match its digest {self._digest}; "
                "the image is corrupt or was tampered with"
            )
        if self._tar_hash is not None and self._tar_hash.hexdigest() != self._diff_want:
            raise DigestMismatchError(
                f"{self._what}: uncompressed content does not match the config's diff_id {self._diff_id}; "
                "the image is corrupt or was tampered with"
            )
