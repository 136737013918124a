"""Local image sources: OCI image layout directories, OCI archives and docker-archive tarballs.

Blobs are read in place (from the directory, or from their offsets inside the tarball); nothing
is extracted, and every blob is verified against its digest as it is read.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from imgsec.errors import InputError, NotFoundError
from imgsec.image.layers import normalize_entry_path
from imgsec.image.manifest import (
    build_image,
    load_json_document,
    parse_descriptor,
    resolve_image,
    select_manifest,
)
from imgsec.image.model import (
    DOCKER_LAYER_TAR,
    MAX_DOCUMENT_SIZE,
    Descriptor,
    FileRegion,
    Image,
    Platform,
    VerifyingReader,
    sha256_digest,
    verify_digest,
)
from imgsec.reference import validate_digest

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_BLOB_PATH_RE = re.compile(r"^blobs/(sha256|sha512)/([a-f0-9]{64}|[a-f0-9]{128})$")


def _read_capped(f: BinaryIO | _Region, cap: int, what: str) -> bytes:
    data = f.read(cap + 1)
    if len(data) > cap:
        raise InputError(f"{what}: larger than {cap} bytes; refusing")
    return data


def _open_nofollow(path: Path) -> BinaryIO:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path}: blob not found; the image layout is incomplete") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror}); blobs must be regular files") from exc
    return os.fdopen(fd, "rb")


class LayoutDir:
    """An OCI image layout directory (``oci:DIR``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if not (root / "index.json").is_file():
            raise InputError(f"{root}: not an OCI image layout (no index.json)")

    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = validate_digest(digest).partition(":")
        return self.root / "blobs" / algo / hexpart

    def read_document(self, descriptor: Descriptor, what: str) -> bytes:
        with _open_nofollow(self.blob_path(descriptor.digest)) as f:
            data = _read_capped(f, MAX_DOCUMENT_SIZE, what)
        verify_digest(data, descriptor.digest, what)
        return data

    @contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[BinaryIO]:
        with _open_nofollow(self.blob_path(descriptor.digest)) as f:
            region = FileRegion(f.fileno(), 0, descriptor.size)
            yield VerifyingReader(
                f, descriptor.digest, f"blob {descriptor.digest}", descriptor.size, region=region
            )  # type: ignore[misc]

    def index(self) -> dict[str, Any]:
        with _open_nofollow(self.root / "index.json") as f:
            data = _read_capped(f, MAX_DOCUMENT_SIZE, f"{self.root}/index.json")
        return load_json_document(data, f"{self.root}/index.json")


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


class _Region(io.RawIOBase):
    """A read-only window onto part of a file."""

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        self._f = f
        self._f.seek(offset)
        self._offset = offset
        self._size = size
        self._left = size

    def region(self, declared: int) -> FileRegion | None:
        """The member as a file region, when it is exactly the declared size (else read it here)."""
        return FileRegion(self._f.fileno(), self._offset, self._size) if declared == self._size else None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        if not data:
            raise InputError("archive is truncated: a member is shorter than its header says")
        self._left -= len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class TarArchive:
    """Members of an (uncompressed) tarball, indexed once by normalised path; read in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: dict[str, _Member] = {}
        try:
            with tarfile.open(path, mode="r:") as tf:
                for m in tf:
                    if not m.isreg() or m.issparse():
                        continue
                    name = normalize_entry_path(m.name)
                    self.members[name] = _Member(m.offset_data, m.size)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{path}: no such file") from exc
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable uncompressed tar archive ({exc})") from exc

    @contextmanager
    def open_member(self, name: str) -> Iterator[_Region]:
        member = self.members.get(name)
        if member is None:
            raise NotFoundError(f"{self.path}: archive has no {name}")
        with self.path.open("rb") as f:
            yield _Region(f, member.offset, member.size)

    @contextmanager
    def open_blob(self, name: str, descriptor: Descriptor, what: str) -> Iterator[BinaryIO]:
        """The member ``name`` as a digest-verifying blob stream (with its file region)."""
        with self.open_member(name) as f:
            yield VerifyingReader(  # type: ignore[misc]
                f,  # type: ignore[arg-type]
                descriptor.digest,
                what,
                descriptor.size,
                region=f.region(descriptor.size),
            )

    def read_member(self, name: str, what: str) -> bytes:
        with self.open_member(name) as f:
            return _read_capped(f, MAX_DOCUMENT_SIZE, what)


class OciArchive:
    """An OCI image layout inside a tarball (``oci-archive:FILE``)."""

    def __init__(self, path: Path) -> None:
        self.tar = TarArchive(path)
        if "index.json" not in self.tar.members:
            raise InputError(f"{path}: not an OCI archive (no index.json)")

    @staticmethod
    def _name(digest: str) -> str:
        algo, _, hexpart = validate_digest(digest).partition(":")
        return f"blobs/{algo}/{hexpart}"

    def read_document(self, descriptor: Descriptor, what: str) -> bytes:
        data = self.tar.read_member(self._name(descriptor.digest), what)
        verify_digest(data, descriptor.digest, what)
        return data

    def open_blob(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        return self.tar.open_blob(self._name(descriptor.digest), descriptor, f"blob {descriptor.digest}")

    def index(self) -> dict[str, Any]:
        return load_json_document(self.tar.read_member("index.json", "index.json"), "index.json")


def _split_path_ref(spec: str) -> tuple[Path, str | None]:
    """``DIR[:ref]``; a path that exists as written wins over splitting at ':'."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    path, _, ref = spec.rpartition(":")
    return Path(path), ref or None


def _pick_from_index(index: dict[str, Any], ref: str | None, where: str) -> Descriptor | None:
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise InputError(f"{where}: index.json lists no images")
    descs = [parse_descriptor(m, f"{where}: index.json") for m in manifests]
    if ref is not None:
        if ref.startswith(("sha256:", "sha512:")):
            hits = [d for d in descs if d.digest == ref]
        else:
            hits = [d for d in descs if dict(d.annotations).get(REF_NAME_ANNOTATION) == ref]
        if not hits:
            names = sorted({dict(d.annotations).get(REF_NAME_ANNOTATION, d.digest) for d in descs})
            raise NotFoundError(f"{where}: no image {ref!r}; available: {', '.join(names)}")
        return hits[0]
    if len(descs) == 1:
        return descs[0]
    # Several entries that are platform variants of one image: index.json is the image index.
    if all(d.platform is not None for d in descs):
        return None
    names = sorted({dict(d.annotations).get(REF_NAME_ANNOTATION, d.digest) for d in descs})
    raise InputError(
        f"{where}: holds {len(descs)} images; name one as {where}:TAG (one of: {', '.join(names)})"
    )


def open_oci(spec: str, platform: Platform | None, *, archive: bool) -> Image:
    """``oci:DIR[:tag|@digest]`` or ``oci-archive:FILE[:tag]``."""
    path, ref = _split_path_ref(spec)
    store: LayoutDir | OciArchive = OciArchive(path) if archive else LayoutDir(path)
    index = store.index()
    where = f"{'oci-archive' if archive else 'oci'}:{path}"
    root = _pick_from_index(index, ref, where)
    name = f"{where}:{ref}" if ref else where
    if root is None:
        root = select_manifest(index, platform, where)
    return resolve_image(store, root, name=name, platform=platform)


class DockerArchive:
    """``docker save`` / ``skopeo copy docker-archive:`` tarballs (manifest.json + config + layer tars)."""

    def __init__(self, path: Path) -> None:
        self.tar = TarArchive(path)
        if "manifest.json" not in self.tar.members:
            raise InputError(f"{path}: not a docker-archive (no manifest.json)")
        self._digest_to_member: dict[str, str] = {}

    def entries(self) -> list[dict[str, Any]]:
        data = self.tar.read_member("manifest.json", "manifest.json")
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.tar.path}: manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(doc, list) or not doc or not all(isinstance(e, dict) for e in doc):
            raise InputError(f"{self.tar.path}: manifest.json must be a non-empty list of images")
        return doc

    def read_document(self, descriptor: Descriptor, what: str) -> bytes:
        member = self._digest_to_member[descriptor.digest]
        data = self.tar.read_member(member, what)
        verify_digest(data, descriptor.digest, what)
        return data

    @contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[BinaryIO]:
        member = self._digest_to_member.get(descriptor.digest)
        if member is None:
            raise NotFoundError(f"{self.tar.path}: no layer {descriptor.digest}")
        with self.tar.open_blob(member, descriptor, f"layer {member}") as f:
            yield f

    def _member(self, name: Any, what: str) -> str:
        if not isinstance(name, str):
            raise InputError(f"{self.tar.path}: manifest.json {what} is not a path")
        member = normalize_entry_path(name)
        if member not in self.tar.members:
            raise InputError(f"{self.tar.path}: manifest.json names {name!r}, which the archive lacks")
        return member

    def image(self, ref: str | None) -> Image:
        entries = self.entries()
        where = f"docker-archive:{self.tar.path}"
        entry = self._select(entries, ref, where)
        config_member = self._member(entry.get("Config"), "Config")
        config_bytes = self.tar.read_member(config_member, "config")
        config_digest = sha256_digest(config_bytes)
        m = re.search(r"([a-f0-9]{64})(?:\.json)?$", config_member)
        if m and f"sha256:{m.group(1)}" != config_digest:
            verify_digest(config_bytes, f"sha256:{m.group(1)}", f"{where}: config {config_member}")
        config = load_json_document(config_bytes, f"{where}: config")
        layers = entry.get("Layers")
        if not isinstance(layers, list):
            raise InputError(f"{where}: manifest.json entry has no Layers list")
        rootfs = config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
            raise InputError(f"{where}: config diff_ids do not match the {len(layers)} layers")
        descs: list[Descriptor] = []
        for i, layer in enumerate(layers):
            member = self._member(layer, f"layer {i}")
            bm = _BLOB_PATH_RE.match(member)
            hm = re.match(r"^(?:([a-f0-9]{64})\.tar|([a-f0-9]{64})/layer\.tar)$", member)
            if bm:
                digest = f"{bm.group(1)}:{bm.group(2)}"
            elif hm and hm.group(1):
                digest = f"sha256:{hm.group(1)}"
            else:
                # Legacy layer directories are named by layer ID, not digest: the diff_id names the tar.
                digest = validate_digest(str(diff_ids[i]))
            self._digest_to_member[digest] = member
            size = self.tar.members[member].size
            descs.append(Descriptor(media_type=DOCKER_LAYER_TAR, digest=digest, size=size))
        repo_tags = entry.get("RepoTags")
        name = where
        if isinstance(repo_tags, list) and repo_tags and isinstance(repo_tags[0], str):
            name = f"{where}:{repo_tags[0]}"
        manifest = {
            "schemaVersion": 2,
            "config": {"digest": config_digest, "size": len(config_bytes)},
            "layers": [{"digest": d.digest, "size": d.size, "mediaType": d.media_type} for d in descs],
        }
        return build_image(name, None, manifest, config_digest, config, descs, self)

    def _select(self, entries: list[dict[str, Any]], ref: str | None, where: str) -> dict[str, Any]:
        if ref is None:
            if len(entries) > 1:
                raise InputError(
                    f"{where}: holds {len(entries)} images; name one as {where}:NAME:TAG or :@INDEX"
                )
            return entries[0]
        if ref.startswith("@"):
            try:
                return entries[int(ref[1:])]
            except (ValueError, IndexError) as exc:
                raise NotFoundError(f"{where}: no image at index {ref[1:]!r}") from exc
        for e in entries:
            tags = e.get("RepoTags") or []
            if isinstance(tags, list) and any(
                ref in (t, t.split("/")[-1]) for t in tags if isinstance(t, str)
            ):
                return e
        raise NotFoundError(f"{where}: no image tagged {ref!r}")


def open_docker_archive(spec: str) -> Image:
    """``docker-archive:FILE[:name:tag|:@index]``."""
    if Path(spec).exists():
        return DockerArchive(Path(spec)).image(None)
    path, sep, ref = spec.partition(":")
    return DockerArchive(Path(path)).image(ref if sep else None)
