"""The SBOM as a table for people: NAME, VERSION, TYPE, LAYER, then one summary line."""

from __future__ import annotations

import io
import re

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from imgsec.sbom.formats._common import distro_label
from imgsec.sbom.model import SBOM, ImageSummary, Package

# Names and versions come from the image: never let them move the cursor or recolour the terminal.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe(value: str) -> str:
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)


def _layer_column(pkg: Package, image: ImageSummary) -> str:
    """The layer's index in the image (as ``docker history`` counts from the base), else a short digest."""
    if not pkg.layer:
        return "-"
    for layer in image.layers:
        if pkg.layer in (layer.diff_id, layer.digest):
            return str(layer.index)
    algo, _, hexpart = pkg.layer.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else pkg.layer[:19]


def summary_line(sbom: SBOM) -> str:
    n = len(sbom.packages)
    return f"{n} package{'' if n == 1 else 's'}, distro: {_safe(distro_label(sbom.distro))}"


def render_table(sbom: SBOM, *, width: int = 120, color: bool = False) -> str:
    """The packages sorted by name, version and type, and a summary line, as text ``width`` columns wide."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    for column in ("NAME", "VERSION", "TYPE", "LAYER"):
        table.add_column(column, overflow="fold")
    for pkg in sorted(sbom.packages, key=lambda p: (p.name, p.version, str(p.type), p.layer or "")):
        table.add_row(
            Text(_safe(pkg.name)),
            Text(_safe(pkg.version)),
            Text(str(pkg.type)),
            Text(_layer_column(pkg, sbom.image)),
        )
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
        emoji=False,
        markup=False,
    )
    if sbom.packages:
        console.print(table)
    console.print(Text(summary_line(sbom)))
    return out.getvalue()
