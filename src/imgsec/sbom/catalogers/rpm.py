"""Installed rpm packages, from any of the three rpmdb formats (sqlite, Berkeley DB, ndb)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.catalogers.rpmdb_backends import BackendError, detect_format, iter_blobs
from imgsec.sbom.catalogers.rpmdb_header import HeaderError, RpmHeader, parse_header_blob
from imgsec.sbom.distro import os_purl
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

RPMDB_PATHS = frozenset(
    {
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages.db",
    }
)

# Without a known distro the purl namespace comes from the vendor, spelled as the distro id that
# qualify_purls would put there (syft's convention: "redhat" for RHEL, the os-release ID otherwise).
_VENDOR_NAMESPACES: tuple[tuple[str, str], ...] = (
    ("red hat", "redhat"),
    ("centos", "centos"),
    ("fedora", "fedora"),
    ("rocky", "rocky"),
    ("almalinux", "almalinux"),
    ("amazon", "amzn"),
    ("oracle", "ol"),
    ("opensuse", "opensuse"),
    ("suse", "sles"),
    ("microsoft", "mariner"),
)


class RpmCataloger:
    """Packages recorded in an rpm database (``rpm -qa``)."""

    name: ClassVar[str] = "rpm"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 1024 * MiB

    hints: ClassVar[PathHints] = PathHints(exact=RPMDB_PATHS)

    def wants(self, info: FileInfo) -> bool:
        return info.path in RPMDB_PATHS

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        fmt = detect_format(content)
        if fmt is None:
            log.warning("%s: not an rpm database (no sqlite, Berkeley DB or ndb magic); skipped", info.path)
            return []
        location = Location(info.path, info.layer)
        packages: list[Package] = []
        bad = 0
        try:
            for blob in iter_blobs(content, fmt):
                try:
                    header = parse_header_blob(blob)
                except HeaderError as exc:
                    bad += 1
                    log.debug("%s: skipping a malformed rpm header: %s", info.path, exc)
                    continue
                if header.name == "gpg-pubkey":
                    continue  # imported signing keys are recorded as pseudo-packages; not software
                packages.append(package_from_header(header, location))
        except BackendError as exc:
            log.warning("%s: unreadable %s rpm database: %s; skipped", info.path, fmt, exc)
            return []
        if bad:
            log.warning("%s: skipped %d malformed rpm header(s)", info.path, bad)
        return packages


def rpm_version(header: RpmHeader) -> str:
    """``[epoch:]version-release``: the form syft and ``rpm -q --qf '%{EVR}'`` print."""
    evr = f"{header.version}-{header.release}" if header.release else header.version
    return f"{header.epoch}:{evr}" if header.epoch is not None else evr


def split_source_rpm(source_rpm: str) -> tuple[str, str, str] | None:
    """``name-version-release.src.rpm`` -> (name, version, release); ``None`` if it is not that form."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            stem = source_rpm[: -len(suffix)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def _vendor_namespace(vendor: str | None) -> str | None:
    if not vendor:
        return None
    lowered = vendor.lower()
    for needle, namespace in _VENDOR_NAMESPACES:
        if needle in lowered:
            return namespace
    return None


def package_from_header(header: RpmHeader, location: Location) -> Package:
    source_name: str | None = None
    source_version: str | None = None
    if header.source_rpm:
        split = split_source_rpm(header.source_rpm)
        if split is not None:
            source_name = split[0]
            # A source rpm and the binaries built from it share one spec, hence one epoch.
            evr = f"{split[1]}-{split[2]}"
            source_version = f"{header.epoch}:{evr}" if header.epoch is not None else evr
    qualifiers: dict[str, str] = {}
    if header.arch:
        qualifiers["arch"] = header.arch
    if header.epoch is not None:
        qualifiers["epoch"] = str(header.epoch)
    if header.source_rpm:
        qualifiers["upstream"] = header.source_rpm
    purl = os_purl(
        "rpm",
        _vendor_namespace(header.vendor),
        header.name,
        # The purl rpm type keeps the epoch out of the version (a qualifier instead).
        f"{header.version}-{header.release}" if header.release else header.version,
        qualifiers,
    )
    metadata: list[tuple[str, str]] = []
    if header.vendor:
        metadata.append(("vendor", header.vendor))
    if header.modularity_label:
        metadata.append(("modularitylabel", header.modularity_label))
    if header.source_rpm:
        metadata.append(("sourcerpm", header.source_rpm))
    return Package(
        name=header.name,
        version=rpm_version(header),
        type=PackageType.RPM,
        purl=purl,
        source_name=source_name,
        source_version=source_version,
        licenses=(header.license,) if header.license else (),
        locations=(location,),
        layer=location.layer,
        arch=header.arch,
        metadata=tuple(sorted(metadata)),
    )
