"""Small, honest OCI layouts written byte by byte from the image spec, for layer-semantics tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard


@dataclass(frozen=True)
class Entry:
    """One tar entry: kind is file, dir, symlink, hardlink, chardev, fifo."""

    name: str
    data: bytes = b""
    kind: str = "file"
    link: str = ""
    mode: int = 0o644
    size: int | None = None  # override the header's size claim


def make_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.mode = e.mode
            if e.kind == "file":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
                continue
            ti.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "chardev": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[e.kind]
            ti.linkname = e.link
            tf.addfile(ti)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(data: bytes, how: str) -> tuple[bytes, str]:
    half = len(data) // 2
    if how == "gzip-2-members":  # what concatenating two gzip files gives
        blob = gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
        return blob, "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd-2-frames":
        cctx = zstandard.ZstdCompressor()
        return cctx.compress(data[:half]) + cctx.compress(
            data[half:]
        ), "application/vnd.oci.image.layer.v1.tar+zstd"
    if how == "gzip+zeros":  # NUL padding after the last member, which gzip readers skip
        return gzip.compress(data, mtime=0) + bytes(1000), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "gzip+garbage":  # bytes after the last gzip member that are no gzip member
        return gzip.compress(data, mtime=0) + b"trailing junk", "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "gzip":
        return gzip.compress(data, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data), "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, "application/vnd.oci.image.layer.v1.tar"


def write_blob(root: Path, data: bytes) -> str:
    digest = sha(data)
    path = root / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def write_layout(
    root: Path,
    layers: list[bytes],
    *,
    how: str = "gzip",
    tag: str = "t",
    config_extra: dict[str, object] | None = None,
    diff_ids: list[str] | None = None,
    precompressed: list[tuple[bytes, str, str]] | None = None,
) -> dict[str, object]:
    """Write an OCI layout with these uncompressed layer tars; returns the manifest document.

    ``precompressed`` adds layers given as (blob, media type, diff_id) after those.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layer_descs = []
    for tar in layers:
        blob, media_type = compress(tar, how)
        layer_descs.append({"mediaType": media_type, "digest": write_blob(root, blob), "size": len(blob)})
    extra_diff_ids = []
    for blob, media_type, diff_id in precompressed or []:
        layer_descs.append({"mediaType": media_type, "digest": write_blob(root, blob), "size": len(blob)})
        extra_diff_ids.append(diff_id)
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": (diff_ids or [sha(t) for t in layers]) + extra_diff_ids},
    }
    config.update(config_extra or {})
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": write_blob(root, config_bytes),
            "size": len(config_bytes),
        },
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": write_blob(root, manifest_bytes),
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return manifest
