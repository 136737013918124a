"""Where signatures live: the small interface every backend (OCI layout, registry) implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Target:
    """A signed (or to-be-signed) image, resolved to its digest.

    ``identity`` is the repository name that goes into / is expected in the payload's
    ``docker-reference`` (None for an OCI layout, which has no repository name of its own).
    """

    digest: str
    display: str
    identity: str | None
    by_tag: bool
    #: Media type and size of the image's manifest or index (the ``subject`` of OCI 1.1 referrers).
    media_type: str = ""
    size: int = 0


class SignatureStore(Protocol):
    """Reads and writes the manifests and blobs of one repository (or layout)."""

    def describe(self, tag: str) -> str:
        """Human name of ``tag`` in this store, for messages (``host/repo:tag``, ``oci:DIR:tag``)."""
        ...

    def get_manifest(self, tag: str) -> bytes | None:
        """The manifest bytes at ``tag`` (digest-verified), or None when the tag does not exist."""
        ...

    def get_blob(self, digest: str, size: int, max_size: int) -> bytes:
        """The blob ``digest`` of ``size`` bytes, verified; InputError beyond ``max_size`` bytes."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store a blob (no-op when present); returns its digest."""
        ...

    def put_manifest(self, data: bytes, media_type: str, tag: str) -> str:
        """Store a manifest and point ``tag`` at it; returns its digest."""
        ...

    def referrers(self, digest: str, artifact_type: str) -> list[tuple[str, bytes]] | None:
        """(location, manifest bytes) of OCI 1.1 referrers of ``digest`` with ``artifact_type``.

        None when the store has no referrers API (the caller then relies on tags alone).
        """
        ...

    def put_referrer(self, data: bytes, media_type: str, artifact_type: str) -> str:
        """Store a manifest that names its ``subject`` (untagged, found through referrers); its digest."""
        ...
