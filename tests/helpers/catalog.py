"""Run one cataloger over a directory tree through the real layer router, as a layer would feed it."""

from __future__ import annotations

from pathlib import Path

from imgsec.image.layers import walk_directory
from imgsec.sbom.catalog import CatalogerRoute
from imgsec.sbom.catalogers.base import Cataloger
from imgsec.sbom.model import Package


def catalog_dir(cataloger: Cataloger, root: Path, layer: str = "sha256:l1") -> list[Package]:
    """Packages ``cataloger`` finds under ``root`` (paths relative to it), in path order."""
    route = CatalogerRoute(cataloger)
    found = walk_directory(str(root), [route], layer=layer).results[route.name]
    return [pkg for path in sorted(found, key=lambda p: p.split("/")) for pkg in found[path]]
