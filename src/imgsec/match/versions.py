"""Version schemes: each ecosystem's own ordering, through maintained libraries.

Every ``parse_*`` returns an object ordered by that ecosystem's rules, or raises
:class:`UnparseableVersion`. Parsed versions are cached: matching compares the same few thousand
strings over and over, and univers parses some schemes in tens of microseconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Protocol

import packaging.version
from debian.debian_support import Version as DpkgVersion

from imgsec.match.names import ecosystem_family


class UnparseableVersion(ValueError):
    """A version string that the ecosystem's scheme rejects."""


class Comparable(Protocol):
    """A parsed version. Only ``<`` and ``==`` are used: univers' ``<=`` is not always consistent."""

    def __lt__(self, other: Any, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...


_CACHE_SIZE = 1 << 16
_DPKG_OK = re.compile(r"^(?:\d+:)?[0-9][A-Za-z0-9.+~:-]*$")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def parse_dpkg(text: str) -> Comparable:
    """Debian policy 5.6.12 ordering (epoch, upstream, revision; ``~`` sorts before anything)."""
    if not _DPKG_OK.match(text):
        raise UnparseableVersion(f"not a dpkg version: {text!r}")
    try:
        return DpkgVersion(text)
    except ValueError as exc:
        raise UnparseableVersion(f"not a dpkg version: {text!r}") from exc


@functools.lru_cache(maxsize=_CACHE_SIZE)
def parse_pep440(text: str) -> Comparable:
    try:
        return packaging.version.Version(text)
    except packaging.version.InvalidVersion as exc:
        raise UnparseableVersion(f"not a PEP 440 version: {text!r}") from exc


def _univers(name: str, label: str) -> Callable[[str], Comparable]:
    """A parser through ``univers.versions.<name>``, imported on first use (~50 ms of start-up
    that a scan of Debian packages alone never needs)."""

    @functools.lru_cache(maxsize=_CACHE_SIZE)
    def parse(text: str) -> Comparable:
        if not text or not text.strip():
            raise UnparseableVersion(f"empty {label} version")
        from univers import versions

        try:
            return getattr(versions, name)(text)  # type: ignore[no-any-return]
        except (versions.InvalidVersion, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise UnparseableVersion(f"not a {label} version: {text!r}") from exc

    return parse


parse_apk = _univers("AlpineLinuxVersion", "apk")
parse_rpm = _univers("RpmVersion", "rpm")
parse_maven = _univers("MavenVersion", "Maven")
parse_rubygems = _univers("RubygemsVersion", "RubyGems")
_parse_semver_raw = _univers("SemverVersion", "SemVer")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def parse_semver(text: str) -> Comparable:
    """SemVer 2.0.0 precedence (build metadata ignored); npm's loose leading ``v``/``=`` allowed.

    npm advisories here were converted with node-semver ``includePrerelease: true``, so a plain
    SemVer comparison is exactly what npm does for them. Build metadata (``+build.1``,
    Go's ``+incompatible``) is dropped before parsing: SemVer precedence ignores it, and univers
    would otherwise treat ``1.0.0+a`` and ``1.0.0+b`` as neither equal nor ordered.
    """
    stripped = text.strip().lstrip("=v").split("+", 1)[0]
    return _parse_semver_raw(stripped)


def parse_go(text: str) -> Comparable:
    """Go module versions (``v1.2.3``, pseudo-versions, ``+incompatible``) and toolchain
    versions (``go1.21.3``, ``go1.21rc2``) as SemVer, as golang/vulndb writes them."""
    t = text.strip()
    if t.startswith("go"):
        t = go_toolchain_semver(t)
    return parse_semver(t)


_GO_TOOLCHAIN = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?$")


def go_toolchain_semver(text: str) -> str:
    """``go1.21rc2`` -> ``1.21.0-rc.2``; ``go1.19.13`` -> ``1.19.13`` (golang/vulndb's convention)."""
    m = _GO_TOOLCHAIN.match(text.strip())
    if not m:
        raise UnparseableVersion(f"not a Go toolchain version: {text!r}")
    major, minor, patch, pre, pre_n = m.groups()
    out = f"{major}.{minor or 0}.{patch or 0}"
    if pre:
        out += f"-{pre}.{pre_n}"
    return out


_BY_FAMILY: dict[str, Callable[[str], Comparable]] = {
    "Debian": parse_dpkg,
    "Ubuntu": parse_dpkg,
    "Alpine": parse_apk,
    "Red Hat": parse_rpm,
    "Rocky Linux": parse_rpm,
    "AlmaLinux": parse_rpm,
    "openSUSE": parse_rpm,
    "SUSE": parse_rpm,
    "Mageia": parse_rpm,
    "PyPI": parse_pep440,
    "npm": parse_semver,
    "crates.io": parse_semver,
    "Go": parse_go,
    "Maven": parse_maven,
    "RubyGems": parse_rubygems,
}

KNOWN_FAMILIES = frozenset(_BY_FAMILY)


def parser_for(ecosystem: str) -> Callable[[str], Comparable] | None:
    """The version parser of an OSV ecosystem name (``Debian:12`` uses dpkg), or None if unknown."""
    return _BY_FAMILY.get(ecosystem_family(ecosystem))


def parse_version(ecosystem: str, text: str) -> Comparable:
    parser = parser_for(ecosystem)
    if parser is None:
        raise UnparseableVersion(f"no version scheme for ecosystem {ecosystem!r}")
    return parser(text)
