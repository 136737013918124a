"""Signatures in a registry repository, through :class:`imgsec.registry.client.RegistryClient`.

Tag-based discovery (``sha256-<hex>.sig`` / ``.att``) as cosign's specification requires; that is
also the only scheme the Debian ``docker-registry`` (distribution 2.8, no referrers API) supports.
"""

from __future__ import annotations

from imgsec.errors import InputError, NotFoundError
from imgsec.image.model import MAX_DOCUMENT_SIZE, Descriptor, sha256_digest
from imgsec.reference import Reference
from imgsec.registry.client import RegistryClient
from imgsec.signing.payload import cosign_repository_name
from imgsec.signing.store import Target

#: Referrers of one image read at most (each costs a request).
MAX_REFERRERS = 100


class RegistryStore:
    """Read and write signature objects in one registry repository."""

    def __init__(self, client: RegistryClient, repository: Reference) -> None:
        self.client = client
        self.repo = repository.without_digest().with_tag(None)

    def describe(self, tag: str) -> str:
        return f"{self.repo.name}:{tag}"

    def get_manifest(self, tag: str) -> bytes | None:
        try:
            return self.client.get_manifest(self.repo.with_tag(tag)).data
        except NotFoundError:
            return None

    def get_blob(self, digest: str, size: int, max_size: int) -> bytes:
        if size > max_size:
            raise InputError(
                f"blob {digest} of {self.repo.name}: {size} bytes, over the {max_size}-byte limit"
            )
        return self.client.get_blob_bytes(
            self.repo, Descriptor("application/octet-stream", digest, size), max_size
        )

    def put_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        self.client.push_blob(self.repo, data, digest)
        return digest

    def referrers(self, digest: str, artifact_type: str) -> list[tuple[str, bytes]] | None:
        found = self.client.referrers(self.repo, digest, artifact_type)
        if found is None:
            return None
        out: list[tuple[str, bytes]] = []
        for desc in found[:MAX_REFERRERS]:
            ref = self.repo.with_digest(desc.digest)
            out.append((str(ref), self.client.get_manifest(ref).data))
        return out

    def put_referrer(self, data: bytes, media_type: str, artifact_type: str) -> str:
        if len(data) > MAX_DOCUMENT_SIZE:
            raise InputError(f"referrer manifest ({artifact_type}) is larger than {MAX_DOCUMENT_SIZE} bytes")
        return self.client.push_manifest(self.repo.with_digest(sha256_digest(data)), data, media_type)

    def put_manifest(self, data: bytes, media_type: str, tag: str) -> str:
        if len(data) > MAX_DOCUMENT_SIZE:
            raise InputError(f"signature manifest for {tag} is larger than {MAX_DOCUMENT_SIZE} bytes")
        return self.client.push_manifest(self.repo.with_tag(tag), data, media_type)


def resolve_registry_target(client: RegistryClient, ref: Reference) -> Target:
    """The digest ``ref`` names now (a HEAD request; the digest itself when given)."""
    desc = client.head_manifest(ref)
    return Target(
        digest=desc.digest,
        media_type=desc.media_type,
        size=desc.size,
        display=str(ref),
        identity=cosign_repository_name(ref),
        by_tag=ref.digest is None,
    )
