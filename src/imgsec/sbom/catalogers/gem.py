"""Installed Ruby gems: the ``*.gemspec`` files under a ``specifications`` directory.

Mirrors syft's ruby-installed-gemspec-cataloger, which reads the Ruby source that RubyGems writes
for every installed gem line by line (``s.name = "rack".freeze``) instead of running it: a gemspec
declares a gem when both a name and a version assignment are found; the last assignment wins.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import ClassVar

from packageurl import PackageURL

from imgsec.sbom.catalogers.base import FileInfo, MiB, PathHints
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

_SCALARS = {
    key: re.compile(rf""".*\.{key}\s*=\s*["'](?P<value>.*)["'] *""")
    for key in ("name", "version", "homepage")
}
_LISTS = {key: re.compile(rf".*\.{key}\s*=\s*\[(?P<value>.*)\] *") for key in ("licenses", "authors")}
_UNICODE_ESCAPE = re.compile(r"\\u([0-9A-F]{4})")


def _render_escapes(line: str) -> str:
    """RubyGems writes non-ASCII as ``\\u00E9``; show the character."""
    return _UNICODE_ESCAPE.sub(lambda m: json.loads(f'"\\u{m.group(1)}"'), line)


def _split_list(value: str) -> tuple[str, ...]:
    items = (item.strip().strip("\"' ") for item in value.split(","))
    return tuple(item for item in items if item)


class GemspecCataloger:
    """Ruby gems installed by RubyGems or by distro packages (rubygems-integration)."""

    name: ClassVar[str] = "gem"
    magic: ClassVar[tuple[bytes, ...]] = ()
    max_size: ClassVar[int] = 4 * MiB

    hints: ClassVar[PathHints] = PathHints(suffixes=(".gemspec",))

    def wants(self, info: FileInfo) -> bool:
        path = info.path
        return path.endswith(".gemspec") and (
            "/specifications/" in path or path.startswith("specifications/")
        )

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        scalars: dict[str, str] = {}
        lists: dict[str, tuple[str, ...]] = {}
        for raw in content.decode("utf-8", errors="replace").splitlines():
            line = _render_escapes(raw.strip().replace(".freeze", ""))
            if not line or "=" not in line:
                continue
            for key, pattern in _SCALARS.items():
                if (m := pattern.search(line)) and m.group("value"):
                    scalars[key] = m.group("value")
                    break
            else:
                for key, pattern in _LISTS.items():
                    if (m := pattern.search(line)) and m.group("value"):
                        lists[key] = _split_list(m.group("value"))
                        break
        name, version = scalars.get("name", ""), scalars.get("version", "")
        if not name or not version:
            log.debug("%s: gemspec without a name and version", info.path)
            return []
        try:
            purl = PackageURL(type="gem", name=name, version=version).to_string()
        except ValueError as exc:
            log.debug("%s: unusable gem name %r: %s", info.path, name, exc)
            return []
        metadata = {"name": name}
        if homepage := scalars.get("homepage"):
            if "#{" in homepage:  # Ruby interpolation that only running the gemspec would resolve
                homepage = homepage.replace("#{s.name}", name).replace("#{s.version}", version)
            if "#{" not in homepage:
                metadata["homepage"] = homepage
        if authors := lists.get("authors"):
            metadata["authors"] = ", ".join(authors)
        return [
            Package(
                name=name,
                version=version,
                type=PackageType.GEM,
                purl=purl,
                licenses=lists.get("licenses", ()),
                locations=(Location(info.path, info.layer),),
                layer=info.layer,
                metadata=tuple(sorted(metadata.items())),
            )
        ]
