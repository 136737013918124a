"""Installed Python distributions: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` and ``*.egg-info`` files.

Mirrors syft's python-installed-package-cataloger: the name is normalised the PEP 503 way
(``Foo_Bar`` -> ``foo-bar``), a missing version is reported as ``UNKNOWN`` with a version-less
purl, and the declared license is ``License-Expression`` (PEP 639) or else ``License``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from packageurl import PackageURL

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.model import Location, Package, PackageType

if TYPE_CHECKING:
    from email.message import Message

log = logging.getLogger(__name__)

#: The version syft reports when a distribution declares none.
UNKNOWN_VERSION = "UNKNOWN"

_SUFFIXES = (
    "dist-info/METADATA",
    "DIST-INFO/METADATA",
    "egg-info/PKG-INFO",
    "EGG-INFO/PKG-INFO",
    ".egg-info",
)
_NORMALISE = re.compile(r"[-_.]+")
# Licenses that say nothing; setuptools writes "UNKNOWN" when none was given.
_NO_LICENSE = frozenset({"", "UNKNOWN", "UNKNOWN LICENSE", "NONE"})


def normalise_name(name: str) -> str:
    """The PEP 503 normalised project name (what pip, PyPI and syft compare)."""
    return _NORMALISE.sub("-", name).lower()


def _parse_headers(text: str) -> Message:
    from email.parser import HeaderParser  # the email package costs ~12 ms: only when there is metadata
    from email.policy import compat32

    return HeaderParser(policy=compat32).parsestr(text, headersonly=True)


def _header(msg: Message, key: str) -> str:
    value = msg.get(key)
    if value is None:
        return ""
    # Continuation lines keep their indentation; collapse it like a reader would.
    return " ".join(part.strip() for part in str(value).splitlines()).strip()


def _licenses(msg: Message) -> tuple[str, ...]:
    for key in ("License-Expression", "License"):
        value = _header(msg, key)
        if value and value.upper() not in _NO_LICENSE:
            return (value,)
    # Trove classifiers are the last resort ("License :: OSI Approved :: MIT License" -> "MIT License").
    found: list[str] = []
    for classifier in msg.get_all("Classifier") or ():
        parts = [p.strip() for p in str(classifier).split("::")]
        if len(parts) >= 2 and parts[0] == "License" and parts[-1] not in ("OSI Approved", *found):
            found.append(parts[-1])
    return tuple(found)


class PythonPackageCataloger:
    """Python distributions installed by pip, setuptools or distro packages."""

    name: ClassVar[str] = "python"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 8 * MiB

    hints: ClassVar[PathHints] = PathHints(suffixes=_SUFFIXES)

    def wants(self, info: FileInfo) -> bool:
        return info.path.endswith(_SUFFIXES)

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        text = content.decode("utf-8", errors="replace")
        if "\x00" in text:
            log.debug("%s: binary data, not Python metadata", info.path)
            return []
        try:
            msg = _parse_headers(text)
        except Exception as exc:  # the stdlib parser is lenient; anything else is hostile input
            log.debug("%s: unreadable Python metadata: %s", info.path, exc)
            return []
        raw_name = _header(msg, "Name")
        if not raw_name:
            log.debug("%s: Python metadata without a Name", info.path)
            return []
        name = normalise_name(raw_name)
        raw_version = _header(msg, "Version")
        version = raw_version or UNKNOWN_VERSION
        purl = PackageURL(type="pypi", name=name, version=raw_version or None).to_string()
        metadata = {"name": raw_name}
        for key, header in (
            ("metadataVersion", "Metadata-Version"),
            ("requiresPython", "Requires-Python"),
            ("author", "Author"),
            ("homepage", "Home-page"),
        ):
            value = _header(msg, header)
            if value:
                metadata[key] = value
        return [
            Package(
                name=name,
                version=version,
                type=PackageType.PYTHON,
                purl=purl,
                licenses=_licenses(msg),
                locations=(Location(info.path, info.layer),),
                layer=info.layer,
                metadata=tuple(sorted(metadata.items())),
            )
        ]
