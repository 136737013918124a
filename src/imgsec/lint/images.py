"""Embedded knowledge about well-known base images: minimal variants, toolchains, non-root images.

Keyed by the normalised repository name (``docker.io/library/python``) so ``python``,
``library/python`` and ``docker.io/python`` all match.  Small and conservative on purpose: an entry
exists only where a smaller official variant really is published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imgsec.reference import Reference


@dataclass(frozen=True)
class MinimalVariant:
    #: A tag containing one of these words is already minimal.
    markers: tuple[str, ...]
    #: What to use instead; ``{v}`` is the version part of the current tag.
    suggestion: str


def _lib(name: str) -> str:
    return f"docker.io/library/{name}"


MINIMAL_VARIANTS: dict[str, MinimalVariant] = {
    _lib("debian"): MinimalVariant(("slim",), "debian:{v}-slim"),
    _lib("ubuntu"): MinimalVariant(
        ("minimal", "chiseled"),
        "debian:<release>-slim, or a distroless runtime (gcr.io/distroless/base-debian12)",
    ),
    _lib("python"): MinimalVariant(("slim", "alpine"), "python:{v}-slim (or python:{v}-alpine)"),
    _lib("node"): MinimalVariant(("slim", "alpine"), "node:{v}-slim (or node:{v}-alpine)"),
    _lib("ruby"): MinimalVariant(("slim", "alpine"), "ruby:{v}-slim (or ruby:{v}-alpine)"),
    _lib("php"): MinimalVariant(("alpine",), "php:{v}-fpm-alpine or php:{v}-cli-alpine"),
    _lib("perl"): MinimalVariant(("slim",), "perl:{v}-slim"),
    _lib("openjdk"): MinimalVariant(("slim", "alpine", "jre"), "eclipse-temurin:{v}-jre"),
    _lib("eclipse-temurin"): MinimalVariant(("jre",), "eclipse-temurin:{v}-jre"),
    _lib("nginx"): MinimalVariant(
        ("alpine",), "nginx:{v}-alpine (or nginxinc/nginx-unprivileged:{v}-alpine)"
    ),
    _lib("httpd"): MinimalVariant(("alpine",), "httpd:{v}-alpine"),
    _lib("redis"): MinimalVariant(("alpine",), "redis:{v}-alpine"),
    _lib("postgres"): MinimalVariant(("alpine",), "postgres:{v}-alpine"),
    _lib("centos"): MinimalVariant(("minimal",), "registry.access.redhat.com/ubi9/ubi-minimal"),
    _lib("fedora"): MinimalVariant(("minimal",), "registry.access.redhat.com/ubi9/ubi-minimal"),
    _lib("amazonlinux"): MinimalVariant(("minimal",), "amazonlinux:2023-minimal"),
    _lib("buildpack-deps"): MinimalVariant(("slim",), "debian:<release>-slim"),
    "registry.access.redhat.com/ubi9/ubi": MinimalVariant((), "registry.access.redhat.com/ubi9/ubi-minimal"),
    "registry.access.redhat.com/ubi8/ubi": MinimalVariant((), "registry.access.redhat.com/ubi8/ubi-minimal"),
    "registry.access.redhat.com/ubi9": MinimalVariant((), "registry.access.redhat.com/ubi9/ubi-minimal"),
    "registry.access.redhat.com/ubi8": MinimalVariant((), "registry.access.redhat.com/ubi8/ubi-minimal"),
    "docker.io/redhat/ubi9": MinimalVariant((), "redhat/ubi9-minimal"),
    "docker.io/redhat/ubi8": MinimalVariant((), "redhat/ubi8-minimal"),
    "mcr.microsoft.com/dotnet/aspnet": MinimalVariant(
        ("alpine", "chiseled", "distroless"), "mcr.microsoft.com/dotnet/aspnet:{v}-noble-chiseled"
    ),
    "mcr.microsoft.com/dotnet/runtime": MinimalVariant(
        ("alpine", "chiseled", "distroless"), "mcr.microsoft.com/dotnet/runtime:{v}-noble-chiseled"
    ),
}

#: Images that are build toolchains: fine for a build stage, wrong for the image you ship.
TOOLCHAIN_IMAGES: dict[str, str] = {
    _lib("golang"): "gcr.io/distroless/static-debian12 (CGO_ENABLED=0) or gcr.io/distroless/base-debian12",
    _lib("rust"): "gcr.io/distroless/cc-debian12",
    _lib("gcc"): "gcr.io/distroless/cc-debian12",
    _lib("maven"): "eclipse-temurin:<version>-jre",
    _lib("gradle"): "eclipse-temurin:<version>-jre",
    _lib("buildpack-deps"): "debian:<release>-slim",
    "mcr.microsoft.com/dotnet/sdk": "mcr.microsoft.com/dotnet/aspnet or mcr.microsoft.com/dotnet/runtime-deps",
}

_VERSION_RE = re.compile(r"^[0-9][0-9a-z.]*")


def tag_words(tag: str | None) -> set[str]:
    return set(re.split(r"[-_.]", (tag or "").lower()))


def suggest_minimal(ref: Reference) -> str | None:
    """The minimal variant to use instead of ``ref``, or None if it is minimal or unknown."""
    variant = MINIMAL_VARIANTS.get(ref.name)
    if variant is None:
        return None
    words = tag_words(ref.tag)
    if any(any(w.startswith(m) for w in words) for m in variant.markers):
        return None
    m = _VERSION_RE.match(ref.tag or "")
    version = m.group(0).rstrip(".") if m else "<version>"
    if ref.name == _lib("debian") and ref.tag and not m and ref.tag != "latest":
        version = ref.tag  # codename tags: bookworm -> bookworm-slim
    return variant.suggestion.replace("{v}", version)


def toolchain_replacement(ref: Reference) -> str | None:
    """What to ship instead when ``ref`` is a build toolchain image, else None."""
    return TOOLCHAIN_IMAGES.get(ref.name)


def known_non_root(ref: Reference) -> bool:
    """Base images documented to run as a non-root user by default."""
    words = tag_words(ref.tag)
    if "nonroot" in words:
        return True
    if ref.registry == "cgr.dev" and "dev" not in words:
        return True
    return ref.name == "docker.io/nginxinc/nginx-unprivileged"
