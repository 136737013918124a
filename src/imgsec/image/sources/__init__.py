"""Turn what the user typed (a registry reference or a transport-prefixed path) into an :class:`Image`.

``oci:DIR[:tag]``, ``oci-archive:FILE[:tag]``, ``docker-archive:FILE[:name:tag|:@N]``, ``dir:ROOTFS``,
``registry:REF`` / ``docker://REF`` or a bare reference (``nginx:1.25``, ``host:5000/app@sha256:...``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from imgsec.errors import InputError
from imgsec.image.model import Descriptor, Image, Platform
from imgsec.image.sources.local import open_docker_archive, open_oci
from imgsec.reference import Reference, parse_reference

if TYPE_CHECKING:
    from imgsec.registry.client import RegistryClient

LOCAL_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "dir:")


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: credentials and TLS (see ``imgsec.registry``)."""

    username: str | None = None
    password: str | None = None
    ca_cert: Path | None = None
    insecure: bool = False

    def client(self, ref: Reference) -> RegistryClient:
        """A client for ``ref``'s registry with these credentials and TLS settings."""
        from imgsec.registry.client import RegistryClient

        return RegistryClient.for_reference(
            ref, username=self.username, password=self.password, ca_cert=self.ca_cert, insecure=self.insecure
        )


def registry_reference(spec: str) -> Reference | None:
    """The reference if ``spec`` names a registry image, else None (a local transport)."""
    if spec.startswith(LOCAL_TRANSPORTS):
        return None
    for prefix in ("registry:", "docker://"):
        if spec.startswith(prefix):
            return parse_reference(spec[len(prefix) :])
    return parse_reference(spec)


def open_image(
    spec: str, *, platform: Platform | None = None, registry: RegistryOptions | None = None
) -> Image:
    """Open any image the CLI accepts. Raises InputError for an unknown or malformed spec."""
    if spec.startswith("oci:"):
        return open_oci(spec[4:], platform, archive=False)
    if spec.startswith("oci-archive:"):
        return open_oci(spec[len("oci-archive:") :], platform, archive=True)
    if spec.startswith("docker-archive:"):
        return open_docker_archive(spec[len("docker-archive:") :])
    if spec.startswith("dir:"):
        root = Path(spec[4:])
        if not root.is_dir():
            raise InputError(f"{spec}: not a directory")
        return Image(
            name=spec,
            manifest_digest=None,
            manifest={},
            config_digest=None,
            config={},
            layers=(),
            open_blob=_no_blobs,
            rootfs=str(root),
        )
    ref = registry_reference(spec)
    assert ref is not None
    from imgsec.image.sources.registry import open_registry_image

    return open_registry_image(ref, (registry or RegistryOptions()).client(ref), platform)


def _no_blobs(descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
    raise InputError(f"a dir: source has no blobs ({descriptor.digest})")
