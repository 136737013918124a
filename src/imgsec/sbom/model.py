"""The package model: the stable, serialisable middle of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PackageType(StrEnum):
    """What kind of package; the names follow syft's so users of both read the same words."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYTHON = "python"
    NPM = "npm"
    GO_MODULE = "go-module"
    JAVA_ARCHIVE = "java-archive"
    JENKINS_PLUGIN = "jenkins-plugin"
    GEM = "gem"
    RUST_CRATE = "rust-crate"


@dataclass(frozen=True, order=True)
class Location:
    """Where a package was found: a path inside the image and the layer (diff_id) holding it."""

    path: str
    layer: str | None = None


@dataclass(frozen=True)
class Package:
    """One package found in an image.

    ``source_name``/``source_version`` are the distro source package (dpkg ``Source:``, rpm source
    rpm, apk origin) that advisories are keyed by; ``None`` where the format has none.
    ``layer`` is the diff_id of the layer that introduced the package.
    """

    name: str
    version: str
    type: PackageType
    purl: str
    source_name: str | None = None
    source_version: str | None = None
    licenses: tuple[str, ...] = ()
    locations: tuple[Location, ...] = ()
    layer: str | None = None
    arch: str | None = None
    # Format-specific facts (e.g. Go toolchain version, Java groupId) as sorted (key, value) pairs.
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """(type, name, version): the identity used to deduplicate and compare SBOMs."""
        return (str(self.type), self.name, self.version)

    def meta(self, key: str) -> str | None:
        for k, v in self.metadata:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class Distro:
    """The operating system an image is built from, as /etc/os-release names it."""

    id: str
    version_id: str | None = None
    version_codename: str | None = None
    pretty_name: str | None = None
    id_like: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerSummary:
    index: int
    digest: str
    diff_id: str | None
    media_type: str
    size: int
    created_by: str | None = None


@dataclass(frozen=True)
class ImageSummary:
    """What was scanned: enough to name it again and to tie findings to layers."""

    name: str
    manifest_digest: str | None
    config_digest: str | None
    os: str | None
    architecture: str | None
    variant: str | None = None
    layers: tuple[LayerSummary, ...] = ()
    repo_digests: tuple[str, ...] = ()
    user: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SBOM:
    image: ImageSummary
    distro: Distro | None
    packages: tuple[Package, ...] = field(default_factory=tuple)
