"""Manifests, indexes and configs: parsed strictly, verified by digest, resolved to one :class:`Image`.

Every source (OCI layout, archives, registry) reads documents through a :class:`BlobSource`, so the
rules for what a valid manifest is, how a platform is chosen from an index and how layers line up
with the config's diff_ids live here once.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

from imgsec.errors import InputError
from imgsec.image.model import (
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    MAX_DOCUMENT_SIZE,
    Descriptor,
    Image,
    Layer,
    Platform,
)
from imgsec.reference import validate_digest

MAX_INDEX_DEPTH = 4


class BlobSource(Protocol):
    """Where a source's blobs come from."""

    def read_document(self, descriptor: Descriptor, what: str) -> bytes:
        """The whole blob (at most MAX_DOCUMENT_SIZE), digest verified."""
        ...

    def open_blob(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """A stream over the blob that verifies its digest and size at EOF."""
        ...


def load_json_document(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT_SIZE:
        raise InputError(f"{what}: larger than {MAX_DOCUMENT_SIZE} bytes; refusing")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InputError(f"{what}: expected a JSON object")
    return doc


def parse_descriptor(obj: Any, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise InputError(f"{what}: descriptor is not an object")
    media_type = obj.get("mediaType")
    digest = obj.get("digest")
    size = obj.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise InputError(f"{what}: descriptor lacks mediaType or digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InputError(f"{what}: descriptor has an invalid size {size!r}")
    try:
        validate_digest(digest)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from exc
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InputError(f"{what}: annotations must be an object")
    platform = None
    plat = obj.get("platform")
    if (
        isinstance(plat, dict)
        and isinstance(plat.get("os"), str)
        and isinstance(plat.get("architecture"), str)
    ):
        variant = plat.get("variant")
        platform = Platform(plat["os"], plat["architecture"], variant if isinstance(variant, str) else None)
    artifact_type = obj.get("artifactType")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        annotations=tuple(sorted((str(k), str(v)) for k, v in annotations.items())),
        platform=platform,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
    )


def document_media_type(doc: dict[str, Any], fallback: str | None) -> str:
    """The media type a manifest or index declares (or implies, for old documents without one)."""
    mt = doc.get("mediaType")
    if isinstance(mt, str):
        return mt
    if fallback:
        return fallback
    if "manifests" in doc:
        return "application/vnd.oci.image.index.v1+json"
    if "layers" in doc:
        return "application/vnd.oci.image.manifest.v1+json"
    raise InputError("document has no mediaType and is neither a manifest nor an index")


def select_manifest(index: dict[str, Any], platform: Platform | None, what: str) -> Descriptor:
    """Pick the manifest for ``platform`` (default: the host's) from an index."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise InputError(f"{what}: image index lists no manifests")
    descs = [parse_descriptor(m, what) for m in manifests]
    images = [d for d in descs if d.media_type in MANIFEST_TYPES | INDEX_TYPES]
    with_platform = [d for d in images if d.platform is not None and d.platform.os != "unknown"]
    if platform is None and len(images) == 1 and not with_platform:
        return images[0]
    wanted = platform or Platform.host()
    for d in with_platform:
        assert d.platform is not None
        if wanted.matches(d.platform):
            return d
    if platform is None and len(with_platform) == 1:
        return with_platform[0]
    available = ", ".join(str(d.platform) for d in with_platform) or "none"
    raise InputError(f"{what}: no manifest for platform {wanted}; available: {available} (use --platform)")


def resolve_image(
    source: BlobSource,
    root: Descriptor,
    *,
    name: str,
    platform: Platform | None,
    repo_digests: tuple[str, ...] = (),
) -> Image:
    """Follow ``root`` (a manifest or an index) to one platform's image."""
    desc = root
    for _ in range(MAX_INDEX_DEPTH):
        data = source.read_document(desc, f"{name}: manifest {desc.digest}")
        doc = load_json_document(data, f"{name}: manifest {desc.digest}")
        media_type = document_media_type(doc, desc.media_type)
        if media_type in INDEX_TYPES:
            desc = select_manifest(doc, platform, f"{name}: index {desc.digest}")
            continue
        if media_type not in MANIFEST_TYPES:
            raise InputError(f"{name}: unsupported manifest media type {media_type!r}")
        return _image_from_manifest(source, doc, desc.digest, name=name, repo_digests=repo_digests)
    raise InputError(f"{name}: image indexes nested deeper than {MAX_INDEX_DEPTH}; refusing")


def _image_from_manifest(
    source: BlobSource, manifest: dict[str, Any], digest: str, *, name: str, repo_digests: tuple[str, ...]
) -> Image:
    what = f"{name}: manifest {digest}"
    if manifest.get("schemaVersion") != 2:
        raise InputError(f"{what}: unsupported schemaVersion {manifest.get('schemaVersion')!r} (only 2)")
    config_desc = parse_descriptor(manifest.get("config"), f"{what} config")
    config = load_json_document(source.read_document(config_desc, f"{name}: config"), f"{name}: config")
    raw_layers = manifest.get("layers")
    if not isinstance(raw_layers, list):
        raise InputError(f"{what}: no layers list")
    descs = [parse_descriptor(layer, f"{what} layer {i}") for i, layer in enumerate(raw_layers)]
    for i, d in enumerate(descs):
        if d.media_type not in LAYER_TYPES:
            raise InputError(f"{what}: layer {i} has unsupported media type {d.media_type!r}")
    return build_image(name, digest, manifest, config_desc.digest, config, descs, source, repo_digests)


def build_image(
    name: str,
    manifest_digest: str | None,
    manifest: dict[str, Any],
    config_digest: str | None,
    config: dict[str, Any],
    descs: list[Descriptor],
    source: BlobSource,
    repo_digests: tuple[str, ...] = (),
) -> Image:
    """Line layers up with the config's diff_ids and history."""
    rootfs = config.get("rootfs")
    diff_ids_raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids_raw, list) or not all(isinstance(x, str) for x in diff_ids_raw):
        raise InputError(f"{name}: config has no rootfs.diff_ids list")
    if len(diff_ids_raw) != len(descs):
        raise InputError(
            f"{name}: manifest lists {len(descs)} layers but the config has {len(diff_ids_raw)} diff_ids; corrupt image"
        )
    for d in diff_ids_raw:
        validate_digest(d)
    created_by: list[str | None] = []
    history = config.get("history")
    if isinstance(history, list):
        for h in history:
            if isinstance(h, dict) and not h.get("empty_layer"):
                cb = h.get("created_by")
                created_by.append(cb if isinstance(cb, str) else None)
    layers = tuple(
        Layer(
            index=i,
            descriptor=d,
            diff_id=diff_ids_raw[i],
            created_by=created_by[i] if len(created_by) == len(descs) else None,
        )
        for i, d in enumerate(descs)
    )
    return Image(
        name=name,
        manifest_digest=manifest_digest,
        manifest=manifest,
        config_digest=config_digest,
        config=config,
        layers=layers,
        open_blob=source.open_blob,
        repo_digests=repo_digests,
    )
