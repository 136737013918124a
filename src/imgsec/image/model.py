"""What every image source produces: one :class:`Image` with manifest, config and ordered layers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from imgsec.errors import DigestMismatchError, InputError

# Media types (OCI image spec and Docker image manifest v2 schema 2).
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
LAYER_TYPES = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDIST,
        OCI_LAYER_NONDIST_GZIP,
        OCI_LAYER_NONDIST_ZSTD,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN_GZIP,
        DOCKER_LAYER_TAR,
    }
)
# Hard limits on documents we parse fully into memory (manifests, configs, indexes).
MAX_DOCUMENT_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        machine = os.uname().machine.lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
            machine, machine
        )
        variant = "v8" if arch == "arm64" else None
        return cls("linux", arch, variant)

    def matches(self, other: Platform) -> bool:
        """Whether an index entry ``other`` satisfies this requested platform."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None or other.variant is None:
            return True
        return self.variant == other.variant


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    platform: Platform | None = None
    artifact_type: str | None = None


@dataclass(frozen=True)
class Layer:
    index: int
    descriptor: Descriptor
    diff_id: str | None
    created_by: str | None = None

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type


class BlobOpener(Protocol):
    def __call__(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """Open a blob for streaming; the stream raises DigestMismatchError at EOF on a bad digest."""
        ...


@dataclass(frozen=True)
class Image:
    """A resolved single-platform image. ``open_blob`` streams a layer blob, verifying its digest."""

    name: str
    manifest_digest: str | None
    manifest: dict[str, Any]
    config_digest: str | None
    config: dict[str, Any]
    layers: tuple[Layer, ...]
    open_blob: BlobOpener = field(compare=False, repr=False)
    repo_digests: tuple[str, ...] = ()
    #: For ``dir:`` sources: the root directory walked instead of layers.
    rootfs: str | None = None

    @property
    def platform(self) -> Platform | None:
        os_ = self.config.get("os")
        arch = self.config.get("architecture")
        if isinstance(os_, str) and isinstance(arch, str):
            variant = self.config.get("variant")
            return Platform(os_, arch, variant if isinstance(variant, str) else None)
        return None


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, digest: str, what: str) -> None:
    """Raise DigestMismatchError unless ``data`` hashes to ``digest``."""
    algo, _, expected = digest.partition(":")
    if algo not in ("sha256", "sha512"):
        raise InputError(f"{what}: unsupported digest algorithm {algo!r}")
    actual = hashlib.new(algo, data).hexdigest()
    if actual != expected:
        raise DigestMismatchError(
            f"{what}: content does not match its digest {digest} (got {algo}:{actual}); "
            "the image is corrupt or was tampered with"
        )


@dataclass(frozen=True)
class FileRegion:
    """Where a blob's bytes sit in an already opened local file (``fd`` stays owned by the opener)."""

    fd: int
    offset: int
    size: int


class VerifyingReader:
    """A read-only binary stream that hashes what passes through and checks it at EOF.

    Raises :class:`DigestMismatchError` when the stream ends with a different digest, or when it
    yields more than ``size`` bytes (when ``size`` is known).  ``region`` says where the bytes sit
    when they come from a local file, so a helper process can read them directly (it then checks
    the digest itself, see :mod:`imgsec.image.inflate`).
    """

    def __init__(
        self,
        raw: BinaryIO,
        digest: str,
        what: str,
        size: int | None = None,
        *,
        region: FileRegion | None = None,
    ) -> None:
        algo, _, self._expected = digest.partition(":")
        if algo not in ("sha256", "sha512"):
            raise InputError(f"{what}: unsupported digest algorithm {algo!r}")
        self._raw = raw
        self._hash = hashlib.new(algo)
        self.digest = digest
        self.what = what
        self.region = region
        self._digest = digest
        self._what = what
        self._size = size
        self._seen = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._seen += len(data)
            if self._size is not None and self._seen > self._size:
                raise DigestMismatchError(
                    f"{self._what}: more bytes than the {self._size} its descriptor declares"
                )
            self._hash.update(data)
        if not self._done and ((not data and n != 0) or n is None or n < 0):
            # EOF (or a read-everything call, which ends at EOF): the digest is known now.
            self._done = True
            self._check()
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        data = self.read(len(b))
        memoryview(b)[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end (verifying the digest) without keeping the bytes."""
        while self.read(1 << 20):
            pass

    def _check(self) -> None:
        if self._size is not None and self._seen != self._size:
            raise DigestMismatchError(
                f"{self._what}: {self._seen} bytes, but its descriptor declares {self._size}; truncated or corrupt"
            )
        if self._hash.hexdigest() != self._expected:
            raise DigestMismatchError(
                f"{self._what}: content does not match its digest {self._digest}; the image is corrupt or was tampered with"
            )

    def close(self) -> None:
        self._raw.close()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk
