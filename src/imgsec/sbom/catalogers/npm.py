"""Installed JavaScript packages: every ``package.json`` in the image.

Mirrors syft's javascript-package-cataloger, which is the one syft runs for images (its lock-file
cataloger only runs on directory scans): each ``package.json`` (under ``node_modules`` or not, an
application's own manifest included) declares one package.  A file without a ``name`` declares
nothing; a missing version is reported as ``UNKNOWN``; a file whose well-known fields have the
wrong JSON types is rejected as a whole, as syft's strict decoder does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from packageurl import PackageURL

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

#: The version syft reports when a package.json declares none.
UNKNOWN_VERSION = "UNKNOWN"

_STRING_FIELDS = ("name", "version", "homepage", "description")
_WHITESPACE = " \t\r\n"


class _Rejected(ValueError):
    """A document syft's decoder would refuse."""


def _is_str_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) or v is None for v in value.values())


def _check_types(doc: dict[str, Any]) -> None:
    for key in _STRING_FIELDS:
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise _Rejected(f"{key!r} is not a string")
    latest = doc.get("latest")
    if latest is not None and not (isinstance(latest, list) and all(isinstance(v, str) for v in latest)):
        raise _Rejected("'latest' is not a list of strings")
    deps = doc.get("dependencies")
    if deps is not None and not _is_str_map(deps):
        raise _Rejected("'dependencies' is not a map of strings")
    for key in ("author", "repository"):
        value = doc.get(key)
        if value is not None and not (isinstance(value, str) or _is_str_map(value)):
            raise _Rejected(f"{key!r} is neither a string nor a map of strings")


def _licenses(doc: dict[str, Any]) -> tuple[str, ...]:
    single = doc.get("license")
    if isinstance(single, str):
        return (single,) if single else ()
    if isinstance(single, dict) and isinstance(single.get("type"), str):
        return (single["type"],) if single["type"] else ()
    several = doc.get("licenses")  # deprecated form: [{"type": "MIT", "url": ...}, ...]
    if isinstance(several, list) and all(isinstance(item, dict) for item in several):
        return tuple(t for item in several if isinstance(t := item.get("type"), str) and t)
    return ()


def _documents(text: str) -> list[Any]:
    """All JSON values in the text, one after another (a Go json.Decoder loop)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos == len(text):
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)


def _author(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        name = value.get("name") or ""
        email = value.get("email")
        url = value.get("url")
        return f"{name}{f' <{email}>' if email else ''}{f' ({url})' if url else ''}".strip()
    return ""


def _package(info: FileInfo, doc: dict[str, Any]) -> Package:
    name: str = doc["name"]
    version: str = doc.get("version") or ""
    namespace, _, short = name.rpartition("/") if name.startswith("@") else ("", "", name)
    purl = PackageURL(type="npm", namespace=namespace or None, name=short, version=version or None)
    metadata: dict[str, str] = {"name": name}
    if author := _author(doc.get("author")):
        metadata["author"] = author
    if isinstance(doc.get("homepage"), str) and doc["homepage"]:
        metadata["homepage"] = doc["homepage"]
    repository = doc.get("repository")
    url = repository.get("url") if isinstance(repository, dict) else repository
    if isinstance(url, str) and url:
        metadata["url"] = url
    if doc.get("private") is True:
        metadata["private"] = "true"
    return Package(
        name=name,
        version=version or UNKNOWN_VERSION,
        type=PackageType.NPM,
        purl=purl.to_string(),
        licenses=_licenses(doc),
        locations=(Location(info.path, info.layer),),
        layer=info.layer,
        metadata=tuple(sorted(metadata.items())),
    )


class NpmPackageCataloger:
    """JavaScript packages declared by ``package.json`` files."""

    name: ClassVar[str] = "npm"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 4 * MiB

    hints: ClassVar[PathHints] = PathHints(exact=frozenset({"package.json"}), suffixes=("/package.json",))

    def wants(self, info: FileInfo) -> bool:
        return info.path.endswith("/package.json") or info.path == "package.json"

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        try:
            # A byte-order mark is not JSON; syft refuses it too.
            docs = _documents(content.decode("utf-8"))
            for doc in docs:
                if not isinstance(doc, dict):
                    raise _Rejected("not a JSON object")
                _check_types(doc)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            log.debug("%s: unreadable package.json: %s", info.path, exc)
            return []
        packages: list[Package] = []
        for doc in docs:
            if not doc.get("name"):
                log.debug("%s: package.json without a name", info.path)
                return []
            try:
                packages.append(_package(info, doc))
            except ValueError as exc:  # packageurl refuses the name
                log.debug("%s: unusable package name %r: %s", info.path, doc.get("name"), exc)
        return packages
