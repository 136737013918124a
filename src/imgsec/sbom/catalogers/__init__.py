"""Catalogers, one module per package format, routed by path by the layer reader."""

from __future__ import annotations

from imgsec.sbom.catalogers.base import Cataloger, FileInfo

__all__ = ["Cataloger", "FileInfo", "default_catalogers"]


def default_catalogers() -> list[Cataloger]:
    """Every cataloger imgsec ships, in reporting order (OS packages first)."""
    from imgsec.sbom.catalogers.apk import ApkCataloger
    from imgsec.sbom.catalogers.dpkg import DpkgCataloger
    from imgsec.sbom.catalogers.gem import GemspecCataloger
    from imgsec.sbom.catalogers.golang import GoBinaryCataloger
    from imgsec.sbom.catalogers.java import JavaArchiveCataloger
    from imgsec.sbom.catalogers.npm import NpmPackageCataloger
    from imgsec.sbom.catalogers.python import PythonPackageCataloger
    from imgsec.sbom.catalogers.rpm import RpmCataloger
    from imgsec.sbom.catalogers.rust import CargoAuditableCataloger

    return [
        DpkgCataloger(),
        ApkCataloger(),
        RpmCataloger(),
        PythonPackageCataloger(),
        NpmPackageCataloger(),
        GoBinaryCataloger(),
        JavaArchiveCataloger(),
        GemspecCataloger(),
        CargoAuditableCataloger(),
    ]
