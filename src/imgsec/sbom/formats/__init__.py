"""SBOM formats: write an :class:`~imgsec.sbom.model.SBOM` as imgsec JSON, CycloneDX, SPDX or a table; read one back.

>>> text = render(sbom, "cyclonedx")          # doctest: +SKIP
>>> sbom = read_sbom("sbom.spdx.json")        # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from imgsec.errors import UsageError
from imgsec.sbom.formats.read import read_sbom
from imgsec.sbom.model import SBOM

__all__ = ["FORMATS", "read_sbom", "render"]

#: The formats :func:`render` writes, in the order the CLI lists them.
FORMATS: Final = ("table", "json", "cyclonedx", "spdx")


def render(
    sbom: SBOM, fmt: str, *, created: datetime | None = None, width: int = 120, color: bool = False
) -> str:
    """Render ``sbom`` as ``table``, ``json`` (imgsec), ``cyclonedx`` (1.6 JSON) or ``spdx`` (2.3 JSON).

    ``created`` pins the document timestamp (else ``SOURCE_DATE_EPOCH``, else now); ``width`` and
    ``color`` apply to the table only.
    """
    if fmt == "json":
        from imgsec.sbom.formats.native import to_json

        return to_json(sbom, created=created)
    if fmt == "cyclonedx":
        from imgsec.sbom.formats.cyclonedx import to_cyclonedx

        return to_cyclonedx(sbom, created=created)
    if fmt == "spdx":
        from imgsec.sbom.formats.spdx import to_spdx

        return to_spdx(sbom, created=created)
    if fmt == "table":
        from imgsec.report.sbom_table import render_table

        return render_table(sbom, width=width, color=color)
    raise UsageError(f"unknown SBOM format {fmt!r}: choose one of {', '.join(FORMATS)}")
