"""Image -> SBOM: stream every layer once through the catalogers, squash, detect the distro.

This is the first half of the pipeline in DESIGN.md (source -> layers -> catalogers -> SBOM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from imgsec.image.cache import LayerCache
from imgsec.image.inflate import HelperStream
from imgsec.image.layers import FinalView, FunctionRoute, LayerResult, Route, read_layers, squash
from imgsec.image.model import Image
from imgsec.sbom.catalogers import Cataloger, default_catalogers
from imgsec.sbom.catalogers.base import FileInfo, PathHints
from imgsec.sbom.catalogers.dpkg import (
    COPYRIGHT_MAX_SIZE,
    attach_copyright_licenses,
    copyright_package,
    licenses_from_copyright,
)
from imgsec.sbom.distro import DistroDetector, qualify_purls
from imgsec.sbom.model import SBOM, Distro, ImageSummary, LayerSummary, Location, Package, PackageType

log = logging.getLogger(__name__)

_DISTRO_ROUTE = "distro-files"
_COPYRIGHT_ROUTE = "dpkg-copyright"


@dataclass(frozen=True)
class CatalogerRoute:
    """Adapts a Cataloger to a layer route, stamping each package with its layer and location."""

    cataloger: Cataloger

    @property
    def name(self) -> str:
        return self.cataloger.name

    @property
    def magic(self) -> tuple[bytes, ...]:
        return self.cataloger.magic

    @property
    def max_size(self) -> int:
        return self.cataloger.max_size

    @property
    def wants(self) -> Callable[[FileInfo], bool]:
        # The cataloger's own method: one call per file and route instead of two.
        return self.cataloger.wants

    @property
    def hints(self) -> PathHints | None:
        hints = getattr(self.cataloger, "hints", None)
        return hints if isinstance(hints, PathHints) else None

    def analyze(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        out = []
        for pkg in self.cataloger.catalog(info, content):
            locations = pkg.locations or (Location(info.path, info.layer),)
            out.append(replace(pkg, layer=pkg.layer or info.layer, locations=locations))
        return out


def _keep_file(info: FileInfo, content: bytes) -> Sequence[bytes]:
    return [content]


_DETECTOR = DistroDetector()


def _distro_route() -> FunctionRoute[bytes]:
    return FunctionRoute(
        name=_DISTRO_ROUTE,
        wants_fn=lambda info: _DETECTOR.wants(info.path),
        analyze_fn=_keep_file,
        max_size=_DETECTOR.max_size,
        hints=PathHints(exact=frozenset(_DETECTOR.paths)),
    )


def _copyright_licenses(info: FileInfo, content: bytes) -> Sequence[tuple[str, ...]]:
    return [licenses_from_copyright(content)]


def _copyright_route() -> FunctionRoute[tuple[str, ...]]:
    """``usr/share/doc/<pkg>/copyright``: the license ids of deb packages (dpkg records none)."""
    return FunctionRoute(
        name=_COPYRIGHT_ROUTE,
        wants_fn=lambda info: copyright_package(info.path) is not None,
        analyze_fn=_copyright_licenses,
        max_size=COPYRIGHT_MAX_SIZE,
        hints=PathHints(prefixes=("usr/share/doc/",)),
    )


def _deb_licenses(view: FinalView, packages: Sequence[Package]) -> dict[str, tuple[str, ...]]:
    """Package name -> licenses of its copyright file in the final view (symlinked doc dirs followed)."""
    placed_files = view.results.get(_COPYRIGHT_ROUTE, {})
    out: dict[str, tuple[str, ...]] = {}
    for name in {p.name for p in packages if p.type == PackageType.DEB}:
        placed = placed_files.get(view.resolve(f"usr/share/doc/{name}/copyright"))
        if placed is not None and placed.results and placed.results[0]:
            out[name] = placed.results[0]
    return out


def _carry_layer(old: Sequence[Any], new: Sequence[Any]) -> Sequence[Any]:
    """Keep the introducing layer of packages a later layer rewrote but did not change."""
    first_seen = {p.key: p.layer for p in old if isinstance(p, Package)}
    return [
        replace(p, layer=first_seen[p.key]) if isinstance(p, Package) and p.key in first_seen else p
        for p in new
    ]


def routes_for(catalogers: Sequence[Cataloger]) -> list[Route[Any]]:
    routes: list[Route[Any]] = [CatalogerRoute(c) for c in catalogers]
    routes.append(_distro_route())
    routes.append(_copyright_route())
    return routes


def summarize(image: Image) -> ImageSummary:
    platform = image.platform
    cfg = image.config.get("config")
    cfg = cfg if isinstance(cfg, dict) else {}
    user = cfg.get("User")
    labels = cfg.get("Labels")
    return ImageSummary(
        name=image.name,
        manifest_digest=image.manifest_digest,
        config_digest=image.config_digest,
        os=platform.os if platform else None,
        architecture=platform.architecture if platform else None,
        variant=platform.variant if platform else None,
        layers=tuple(
            LayerSummary(
                index=layer.index,
                digest=layer.digest,
                diff_id=layer.diff_id,
                media_type=layer.media_type,
                size=layer.descriptor.size,
                created_by=layer.created_by,
            )
            for layer in image.layers
        ),
        repo_digests=image.repo_digests,
        user=user if isinstance(user, str) else None,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())) if isinstance(labels, dict) else (),
    )


def assemble(image: Image, layers: Sequence[LayerResult], catalogers: Sequence[Cataloger]) -> SBOM:
    """Squash per-layer results into the final SBOM."""
    view = squash(layers, carry=_carry_layer)
    files: dict[str, bytes] = {}
    distro_placed = view.results.get(_DISTRO_ROUTE, {})
    for path in _DETECTOR.paths:
        placed = distro_placed.get(view.resolve(path))
        if placed is not None and placed.results:
            files[path] = placed.results[0]
    distro: Distro | None = _DETECTOR.detect(files)
    packages: list[Package] = []
    seen: set[tuple[tuple[str, str, str], tuple[Location, ...]]] = set()
    for cataloger in catalogers:
        for placed in view.placed(cataloger.name):
            for pkg in placed.results:
                ident = (pkg.key, pkg.locations)
                if ident in seen:
                    continue
                seen.add(ident)
                packages.append(pkg)
    licensed = attach_copyright_licenses(packages, _deb_licenses(view, packages))
    qualified = qualify_purls(licensed, distro)
    ordered = tuple(sorted(qualified, key=lambda p: (p.type, p.name, p.version, p.locations)))
    return SBOM(image=summarize(image), distro=distro, packages=ordered)


def catalog_image(
    image: Image,
    catalogers: Sequence[Cataloger] | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
    cache: LayerCache | None = None,
    started: dict[int, HelperStream | None] | None = None,
) -> SBOM:
    """The SBOM of ``image``: every layer streamed once (or taken from ``cache``), every cataloger fed by path.

    ``started``: layer helpers from :func:`imgsec.image.layers.prestart`."""
    cats = list(catalogers) if catalogers is not None else default_catalogers()
    layers = read_layers(image, routes_for(cats), on_bytes=on_bytes, cache=cache, started=started)
    return assemble(image, layers, cats)
