"""Images straight from a registry: resolve the tag, pick the platform, stream verified blobs.

The rules for manifests, indexes, platforms and layers are shared with the local sources
(:func:`imgsec.image.manifest.resolve_image`); this module only knows where the bytes come from.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import BinaryIO

from imgsec.errors import InputError
from imgsec.image.manifest import load_json_document, resolve_image, select_manifest
from imgsec.image.model import INDEX_TYPES, MANIFEST_TYPES, Descriptor, Image, Platform
from imgsec.reference import Reference
from imgsec.registry.client import FetchedManifest, RegistryClient

_MAX_INDEX_DEPTH = 4


class _RegistryBlobs:
    """A :class:`imgsec.image.manifest.BlobSource` over one repository of a registry."""

    def __init__(self, ref: Reference, client: RegistryClient, root: FetchedManifest) -> None:
        self._ref = ref
        self._client = client
        self._documents: dict[str, bytes] = {root.digest: root.data}

    def read_document(self, descriptor: Descriptor, what: str) -> bytes:
        cached = self._documents.get(descriptor.digest)
        if cached is not None:
            return cached
        if descriptor.media_type in MANIFEST_TYPES | INDEX_TYPES:
            data = self._client.get_manifest(self._ref.without_digest().with_digest(descriptor.digest)).data
        else:
            data = self._client.get_blob_bytes(self._ref, descriptor)
        self._documents[descriptor.digest] = data
        return data

    def open_blob(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        return self._client.get_blob(self._ref, descriptor)  # type: ignore[return-value]


def _check_top_level(fetched: FetchedManifest, ref: Reference) -> None:
    if fetched.media_type not in MANIFEST_TYPES | INDEX_TYPES:
        raise InputError(
            f"{ref}: registry returned a {fetched.media_type!r} document, which is not an image manifest or "
            "index (Docker schema 1 is obsolete: re-push the image with a current tool)"
        )


def open_registry_image(ref: Reference, client: RegistryClient, platform: Platform | None = None) -> Image:
    """Open ``ref`` from its registry as one platform's :class:`Image` (default: this host's platform).

    ``manifest_digest`` is the digest of the chosen platform manifest; ``repo_digests`` holds
    ``name@digest`` of what the tag points to (the index for multi-platform images), like Docker.
    """
    fetched = client.get_manifest(ref)
    _check_top_level(fetched, ref)
    source = _RegistryBlobs(ref, client, fetched)
    root = Descriptor(fetched.media_type, fetched.digest, len(fetched.data))
    return resolve_image(
        source,
        root,
        name=str(ref),
        platform=platform,
        repo_digests=(f"{ref.name}@{fetched.digest}",),
    )


def resolve_digest(ref: Reference, client: RegistryClient, platform: Platform | None = None) -> str:
    """The digest ``ref``'s tag points to (an index for multi-platform images).

    With ``platform``, an index is followed to that platform's manifest digest instead.
    """
    if platform is None:
        return client.head_manifest(ref).digest
    fetched = client.get_manifest(ref)
    _check_top_level(fetched, ref)
    source = _RegistryBlobs(ref, client, fetched)
    desc = Descriptor(fetched.media_type, fetched.digest, len(fetched.data))
    for _ in range(_MAX_INDEX_DEPTH):
        if desc.media_type not in INDEX_TYPES:
            return desc.digest
        doc = load_json_document(source.read_document(desc, f"{ref}: index"), f"{ref}: index {desc.digest}")
        desc = select_manifest(doc, platform, f"{ref}: index {desc.digest}")
    raise InputError(f"{ref}: image indexes nested deeper than {_MAX_INDEX_DEPTH}; refusing")
