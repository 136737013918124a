"""Decompress big local layer blobs in a helper process, so decompression overlaps tar parsing.

isal's decompressor holds the GIL, and the GIL hand-over between a decompressing thread and the
parsing thread costs more than it saves, so a second thread gives no overlap.  A helper process
does: it reads the blob straight from the file descriptor the source already opened (with
``O_NOFOLLOW``; nothing is re-opened by path), checks the blob digest and the layer's diff_id,
and writes the tar stream into a pipe that :class:`HelperStream` reads.

The helper is this interpreter run isolated (``-I -S``) with only the two decompression
libraries on its path; it starts in about 10 ms, so it is used for blobs of
:data:`HELPER_MIN_SIZE` and more.  It writes nothing but the tar stream and, on failure, one
line on stderr with an exit code saying which check failed; :meth:`HelperStream.read` turns that
into the same errors the in-process reader raises, at the end of the stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from imgsec.errors import DigestMismatchError, ExternalError, InputError
from imgsec.image.model import FileRegion

#: Compressed blobs at least this big are decompressed by a helper process.
HELPER_MIN_SIZE = 4 << 20
_PIPE_SIZE = 1 << 20
_READ_SIZE = 1 << 20

# Exit codes of the helper.
_EXIT_DIGEST = 3
_EXIT_DIFF_ID = 4
_EXIT_CORRUPT = 5

_HELPER = r"""
import hashlib, os, sys

def fail(code, message):
    os.write(2, message.encode("utf-8", "replace")[:1000])
    os._exit(code)

def main():
    fd, offset, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    digest = sys.argv[4]
    sys.path[:0] = sys.argv[5:]
    algo, _, want = digest.partition(":")
    blob_hash = hashlib.new(algo)
    os.lseek(fd, offset, os.SEEK_SET)

    class Blob:
        left = size
        def readable(self):
            return True
        def read(self, n=-1):
            if self.left <= 0:
                return b""
            if n is None or n < 0 or n > self.left:
                n = self.left
            data = os.read(fd, min(n, 1 << 20))
            if not data:
                fail(5, f"the blob ends after {size - self.left} of its {size} bytes; truncated")
            self.left -= len(data)
            blob_hash.update(data)
            return data
        def readinto(self, b):
            data = self.read(len(b))
            b[: len(data)] = data
            return len(data)

    blob = Blob()
    head = blob.read(4)

    class Prefixed:
        def readable(self):
            return True
        def read(self, n=-1):
            nonlocal head
            if head:
                out, head = head, b""
                return out
            return blob.read(n)
        def readinto(self, b):
            data = self.read(len(b))
            b[: len(data)] = data
            return len(data)

    src = Prefixed()
    if head.startswith(b"\x1f\x8b"):
        from isal import igzip
        stream = igzip.IGzipFile(fileobj=src, mode="rb")
        errors = (EOFError, OSError, ValueError, igzip.BadGzipFile)
    elif head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard
        stream = zstandard.ZstdDecompressor().stream_reader(src, read_size=1 << 20, read_across_frames=True)
        errors = (EOFError, OSError, ValueError, zstandard.ZstdError)
    else:
        stream = src
        errors = (OSError,)
    out = 1
    try:
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
    except BrokenPipeError:
        os._exit(0)  # the reader stopped early (it failed on its own); nothing more to say
    except errors as exc:
        fail(5, f"cannot read layer ({type(exc).__name__}: {exc}); it is corrupt or truncated")
    while blob.read(1 << 20):
        pass  # bytes after the end of the compressed stream still count for the digest
    if blob_hash.hexdigest() != want:
        fail(3, f"content does not match its digest {digest}; the image is corrupt or was tampered with")

try:
    main()
except BaseException as exc:
    fail(5, f"cannot read layer ({type(exc).__name__}); it is corrupt or truncated")
"""


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
    """The tar stream of one blob, decompressed and verified by a helper process.

    A context manager; leaving it early stops the helper.  ``on_bytes`` is told how much of the
    compressed blob the helper has consumed (it shares the file offset).
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
        self._on_bytes = on_bytes
        self._reported = 0
        self._done = False
        args = [str(region.fd), str(region.offset), str(region.size), digest, *_library_paths()]
        algo, _, self._diff_want = (diff_id or "").partition(":")
        self._diff_id = diff_id
        self._tar_hash = hashlib.new(algo) if algo in ("sha256", "sha512") else None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(region.fd,),
                bufsize=0,
            )
        except OSError as exc:
            raise ExternalError(f"{what}: cannot start the decompression helper ({exc.strerror})") from exc
        assert self._proc.stdout is not None
        self._out = self._proc.stdout
        with contextlib.suppress(OSError):  # a bigger pipe means fewer, larger reads
            fcntl.fcntl(self._out.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)

    def __enter__(self) -> HelperStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()

    def readable(self) -> bool:
        return True

    def _progress(self) -> None:
        if self._on_bytes is None:
            return
        try:
            pos = os.lseek(self._region.fd, 0, os.SEEK_CUR) - self._region.offset
        except OSError:
            return
        pos = min(max(pos, 0), self._region.size)
        if pos > self._reported:
            self._on_bytes(pos - self._reported)
            self._reported = pos

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        data = self._out.read(_READ_SIZE if n is None or n < 0 else n)
        if data:
            if self._tar_hash is not None:
                self._tar_hash.update(data)
            self._progress()
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
        assert self._proc.stderr is not None
        message = self._proc.stderr.read(2000).decode("utf-8", "replace").strip().splitlines()
        reason = message[0] if message else f"the decompression helper exited with status {code}"
        if code == 0:
            if self._tar_hash is not None and self._tar_hash.hexdigest() != self._diff_want:
                raise DigestMismatchError(
                    f"{self._what}: uncompressed content does not match the config's diff_id {self._diff_id}; "
                    "the image is corrupt or was tampered with"
                )
            if self._on_bytes is not None and self._reported < self._region.size:
                self._on_bytes(self._region.size - self._reported)
                self._reported = self._region.size
            return
        if code in (_EXIT_DIGEST, _EXIT_DIFF_ID):
            raise DigestMismatchError(f"{self._what}: {reason}")
        if code == _EXIT_CORRUPT:
            raise InputError(f"{self._what}: {reason}")
        raise ExternalError(f"{self._what}: {reason}")
