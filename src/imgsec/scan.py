"""The whole pipeline, end to end: image (or SBOM) -> packages -> findings -> filtered result.

``reference -> source -> layers -> catalogers -> SBOM -> matcher(vulndb) -> findings -> report``,
with the secret and config analyzers riding on the same single pass over the layers.  The exit
code is decided by the caller from :attr:`ScanResult.findings`, which is what is left after
severity filters, ``--ignore-unfixed``, ignore files and VEX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imgsec.errors import InputError, UsageError
from imgsec.findings import Finding, FixStatus, Severity, VulnerabilityFinding
from imgsec.image.layers import LayerResult, Route
from imgsec.image.model import Image
from imgsec.sbom.catalog import assemble, routes_for
from imgsec.sbom.catalogers import Cataloger, default_catalogers
from imgsec.sbom.model import SBOM, ImageSummary

log = logging.getLogger(__name__)

SCANNERS = ("vuln", "secret", "config")
DEFAULT_SCANNERS = ("vuln", "secret")


def parse_scanners(text: str | None) -> frozenset[str]:
    if text is None:
        return frozenset(DEFAULT_SCANNERS)
    chosen = frozenset(s.strip().lower() for s in text.split(",") if s.strip())
    unknown = chosen - set(SCANNERS)
    if unknown or not chosen:
        raise UsageError(
            f"--scanners: unknown {', '.join(sorted(unknown)) or '(none)'}; choose from {', '.join(SCANNERS)}"
        )
    return chosen


def parse_severities(text: str | None) -> frozenset[Severity] | None:
    if text is None:
        return None
    try:
        return frozenset(Severity.parse(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise UsageError(f"--severity: {exc}") from exc


@dataclass(frozen=True)
class ScanOptions:
    scanners: frozenset[str] = frozenset(DEFAULT_SCANNERS)
    severities: frozenset[Severity] | None = None
    ignore_unfixed: bool = False
    ignore_files: tuple[Path, ...] = ()
    vex_files: tuple[Path, ...] = ()
    db_path: Path | None = None
    db_max_age: timedelta | None = None
    now: datetime | None = None
    #: Directory of per-layer results (``<cache-dir>/layers``); None reads every layer every time.
    layer_cache: Path | None = None


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str  # "severity", "unfixed", "ignore-file: <why>", "vex: <status> (<doc>)"


@dataclass(frozen=True)
class DatabaseInfo:
    path: str
    built_at: str | None
    age_hours: float | None
    stale: bool


@dataclass(frozen=True)
class ScanResult:
    sbom: SBOM
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...] = ()
    database: DatabaseInfo | None = None
    scanners: frozenset[str] = frozenset(DEFAULT_SCANNERS)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def at_or_above(self, threshold: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= threshold]


def _sort_key(f: Finding) -> tuple[Any, ...]:
    pkg = getattr(f, "package_name", "")
    return (-f.severity.value, f.kind, pkg, f.id, f.locations)


def _open_db(options: ScanOptions) -> tuple[Any, DatabaseInfo]:
    from imgsec.vulndb.store import VulnDB

    if options.db_path is None:
        raise UsageError("no vulnerability database path given")
    db = VulnDB(options.db_path)
    built_at = db.status().built_at
    age = None
    if built_at:
        try:
            then = datetime.strptime(built_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            age = ((options.now or datetime.now(UTC)) - then).total_seconds() / 3600
        except ValueError:
            age = None
    stale = bool(
        options.db_max_age is not None and (age is None or age * 3600 > options.db_max_age.total_seconds())
    )
    return db, DatabaseInfo(str(options.db_path), built_at, age, stale)


def _filter(
    findings: Sequence[Finding], options: ScanOptions, image: ImageSummary
) -> tuple[list[Finding], list[Suppressed]]:
    from imgsec.suppression import load_suppressions

    rules = load_suppressions(options.ignore_files, options.vex_files)
    kept: list[Finding] = []
    dropped: list[Suppressed] = []
    now = options.now or datetime.now(UTC)
    for f in findings:
        if options.severities is not None and f.severity not in options.severities:
            dropped.append(Suppressed(f, "severity"))
            continue
        if (
            options.ignore_unfixed
            and isinstance(f, VulnerabilityFinding)
            and (f.status is not FixStatus.FIXED or not f.fixed_versions)
        ):
            dropped.append(Suppressed(f, "unfixed"))
            continue
        why = rules.suppresses(f, now, image)
        if why is not None:
            dropped.append(Suppressed(f, why))
            continue
        kept.append(f)
    return sorted(kept, key=_sort_key), dropped


def _vulnerabilities(sbom: SBOM, options: ScanOptions) -> tuple[list[Finding], DatabaseInfo | None]:
    if "vuln" not in options.scanners:
        return [], None
    from imgsec.match.matcher import match_packages

    db, info = _open_db(options)
    try:
        return list(match_packages(sbom.packages, sbom.distro, db)), info
    finally:
        db.close()


def scan_sbom(sbom: SBOM, options: ScanOptions) -> ScanResult:
    """Match an existing SBOM (``imgsec scan --sbom FILE``); only the vuln scanner applies."""
    if options.scanners - {"vuln"}:
        log.info("--sbom: only vulnerabilities can be found from an SBOM; secret/config scanners skipped")
    vulns, info = _vulnerabilities(sbom, options)
    kept, dropped = _filter(vulns, options, sbom.image)
    return ScanResult(sbom, tuple(kept), tuple(dropped), info, frozenset({"vuln"}) & options.scanners)


def scan_image(
    image: Image,
    options: ScanOptions,
    *,
    catalogers: Sequence[Cataloger] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ScanResult:
    """Read every layer once, feeding catalogers and (if enabled) secret/config analyzers."""
    from imgsec.image.layers import read_layers

    cats = list(catalogers) if catalogers is not None else default_catalogers()
    routes: list[Route[Any]] = routes_for(cats)
    extra = _extra_routes(options)
    routes.extend(extra)
    from imgsec.image.cache import LayerCache

    cache = LayerCache(options.layer_cache) if options.layer_cache is not None else None
    layers = read_layers(image, routes, on_bytes=on_bytes, cache=cache)
    sbom = assemble(image, layers, cats)
    findings, info = _vulnerabilities(sbom, options)
    findings.extend(_image_findings(image, layers, options))
    kept, dropped = _filter(findings, options, sbom.image)
    return ScanResult(sbom, tuple(kept), tuple(dropped), info, options.scanners)


def _extra_routes(options: ScanOptions) -> list[Route[Any]]:
    routes: list[Route[Any]] = []
    if "secret" in options.scanners:
        from imgsec.secrets import secret_route

        routes.append(secret_route())
    if "config" in options.scanners:
        from imgsec.image.config_checks import config_route

        routes.append(config_route())
    return routes


def _image_findings(image: Image, layers: list[LayerResult], options: ScanOptions) -> list[Finding]:
    out: list[Finding] = []
    if "secret" in options.scanners:
        from imgsec.secrets import config_secrets, find_image_secrets

        out.extend(find_image_secrets(image, layers))
        out.extend(config_secrets(image))
    if "config" in options.scanners:
        from imgsec.image.config_checks import check_image

        out.extend(check_image(image, layers))
    return out


def check_db_age(result: ScanResult, fail: bool) -> str | None:
    """A warning (or, with ``fail``, an error) when the database is older than allowed."""
    if result.database is None or not result.database.stale:
        return None
    msg = (
        f"the vulnerability database {result.database.path} was built {result.database.built_at} "
        f"({result.database.age_hours or 0:.0f} h ago), older than the allowed maximum; run 'imgsec db update'"
    )
    if fail:
        raise InputError(msg)
    return msg
