"""The cataloger interface: a cataloger knows one package format.

A cataloger declares which files it wants (by path, and optionally by leading magic bytes); the
layer reader streams each layer once and hands it each wanted file's bytes.  Catalogers never
open tarballs, never touch the disk, keep no state between files and must treat every byte as hostile: a malformed file is
logged and yields no packages, it never raises anything but :class:`imgsec.errors.ImgsecError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from imgsec.sbom.model import Package

MiB = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """A regular file inside one layer.

    ``path`` is normalised: relative to the image root, no leading ``/`` or ``./``, no ``..``
    (e.g. ``var/lib/dpkg/status``).  ``mode`` holds the permission bits only.
    """

    path: str
    mode: int
    size: int
    layer: str | None = None

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)


@dataclass(frozen=True)
class PathHints:
    """Where a cataloger's files can be: a promise that ``wants`` is False for every other path.

    The layer reader then skips the ``wants`` call for the great majority of files with one
    string test.  Catalogers that go by mode, size or content (binaries) declare none.
    """

    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    def may_want(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.prefixes) or path.endswith(self.suffixes)


class Cataloger(Protocol):
    """One package format."""

    #: Short name shown in logs and ``--catalogers``.
    name: ClassVar[str]
    #: If non-empty, only files starting with one of these byte strings are handed over.
    magic: ClassVar[tuple[bytes, ...]]
    #: Files larger than this are skipped (logged), never read.
    max_size: ClassVar[int]
    # Optionally ``hints: ClassVar[PathHints]``: where its files can be (see PathHints).

    def wants(self, info: FileInfo) -> bool:
        """Whether this file is one of ours; cheap: called for every file of every layer."""
        ...

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        """The packages this one file declares (an empty list when it declares none or is malformed).

        Results depend on this file alone (they are cached per layer digest).  OS package
        catalogers leave the distro out of the purl: :func:`imgsec.sbom.distro.qualify_purls`
        adds ``distro=`` and the namespace once the whole image's distro is known.
        """
        ...
