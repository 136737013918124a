"""Render a :class:`~imgsec.scan.ScanResult`: ``table`` and ``json`` here; ``sarif``, ``cyclonedx``
and ``html`` in their own modules, dispatched by :func:`render_scan`."""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from imgsec import __version__
from imgsec.errors import UsageError
from imgsec.findings import Finding, Severity
from imgsec.report._facts import display_title
from imgsec.sbom.formats.native import _distro_to_json, _image_to_json
from imgsec.scan import ScanResult

if TYPE_CHECKING:  # rich is imported by the table renderer only (~25 ms of start-up)
    from rich.table import Table
    from rich.text import Text

SCAN_FORMATS: Final = ("table", "json", "sarif", "cyclonedx", "html")
_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.UNKNOWN: "dim",
}


def _plain(value: Any) -> Any:
    if isinstance(value, Severity):
        return value.name
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def finding_to_json(finding: Finding) -> dict[str, Any]:
    out: dict[str, Any] = _plain(finding)
    return out


def summary(findings: tuple[Finding, ...]) -> dict[str, int]:
    counts = Counter(f.severity.name for f in findings)
    return {s.name: counts.get(s.name, 0) for s in sorted(Severity, reverse=True)}


def to_json(result: ScanResult) -> str:
    doc = {
        "format": "imgsec-scan",
        "schemaVersion": "1.0",
        "tool": {"name": "imgsec", "version": __version__},
        "image": _image_to_json(result.sbom.image),
        "distro": _distro_to_json(result.sbom.distro) if result.sbom.distro else None,
        "scanners": sorted(result.scanners),
        "database": _plain(result.database) if result.database else None,
        "packages": len(result.sbom.packages),
        "summary": summary(result.findings),
        "findings": [finding_to_json(f) for f in result.findings],
        "suppressed": [
            {"reason": s.reason, "finding": finding_to_json(s.finding)} for s in result.suppressed
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _layer_index(result: ScanResult, layer: str | None) -> str:
    if layer is None:
        return ""
    for summary_layer in result.sbom.image.layers:
        if layer in (summary_layer.diff_id, summary_layer.digest):
            return str(summary_layer.index)
    return ""


def _one_line_table(
    headers: tuple[str, ...], rows: list[list[Text]], width: int, caps: dict[str, int]
) -> Table:
    """A table whose rows each fit on one line of ``width``: capped columns, the title takes the rest."""
    natural = [max([len(h)] + [r[i].cell_len for r in rows]) for i, h in enumerate(headers)]
    widths = [min(n, caps.get(h, n)) for h, n in zip(headers, natural, strict=True)]
    frame = 3 * len(headers) + 1  # "│ " + " │ " between cells + " │"
    widths[-1] = max(12, min(natural[-1], width - frame - sum(widths[:-1])))
    from rich.table import Table

    table = Table(show_lines=False, expand=False)
    for h, w in zip(headers, widths, strict=True):
        table.add_column(h, width=w, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    return table


def to_table(result: ScanResult, *, width: int = 120, color: bool = False) -> str:
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, highlight=False)
    image = result.sbom.image
    distro = result.sbom.distro
    head = f"{image.name}"
    if distro is not None:
        head += f" ({distro.pretty_name or distro.id})"
    console.print(Text(head, style="bold"))
    counts = summary(result.findings)
    console.print(
        Text(
            f"{len(result.sbom.packages)} packages, {len(result.findings)} findings: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + (f" ({len(result.suppressed)} suppressed)" if result.suppressed else "")
        )
    )
    vulns = [f for f in result.findings if f.kind == "vulnerability"]
    others = [f for f in result.findings if f.kind != "vulnerability"]
    if vulns:
        # One line per finding: long cells end in an ellipsis instead of folding onto more lines;
        # the id (what a user greps and ignores by) is never cut.
        rows = [
            [
                Text(f.severity.name, style=_SEVERITY_STYLE[f.severity]),
                Text(f.id),
                Text(getattr(f, "package_name", "")),
                Text(getattr(f, "package_version", "")),
                Text(", ".join(getattr(f, "fixed_versions", ()))),
                Text(str(getattr(f, "status", ""))),
                Text(_layer_index(result, f.layer)),
                Text(display_title(f)),
            ]
            for f in vulns
        ]
        table = _one_line_table(
            ("SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED IN", "STATUS", "LAYER", "TITLE"),
            rows,
            width,
            caps={"PACKAGE": 24, "INSTALLED": 20, "FIXED IN": 24, "STATUS": 12},
        )
        console.print(table)
    if others:
        rows = [
            [
                Text(f.severity.name, style=_SEVERITY_STYLE[f.severity]),
                Text(str(f.kind)),
                Text(f.id),
                Text(", ".join(loc.path for loc in f.locations) or "image config"),
                Text(_layer_index(result, f.layer)),
                Text(f.title),
            ]
            for f in others
        ]
        table = _one_line_table(
            ("SEVERITY", "KIND", "RULE", "WHERE", "LAYER", "TITLE"), rows, width, caps={"WHERE": 40}
        )
        console.print(table)
    for warning in result.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    return buf.getvalue()


def render_scan(result: ScanResult, fmt: str, *, width: int = 120, color: bool = False) -> str:
    if fmt == "json":
        return to_json(result)
    if fmt == "table":
        return to_table(result, width=width, color=color)
    if fmt == "sarif":
        from imgsec.report.sarif import to_sarif

        return to_sarif(result)
    if fmt == "cyclonedx":
        from imgsec.report.cyclonedx_vex import to_cyclonedx

        return to_cyclonedx(result)
    if fmt == "html":
        from imgsec.report.html import to_html

        return to_html(result)
    raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(SCAN_FORMATS)}")
