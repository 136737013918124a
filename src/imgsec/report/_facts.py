"""Facts about findings that every scan report shows the same way (SARIF, CycloneDX, HTML).

Findings are rendered by kind, generically: a vulnerability has a package, a secret or
misconfiguration has a place (a file path, or the image config); any other fields a finding
subclass adds are read with ``getattr`` so a new kind shows up without changes here.
"""

from __future__ import annotations

import hashlib

from imgsec.findings import CVSS, Finding, Severity, VulnerabilityFinding
from imgsec.scan import ScanResult

#: A representative CVSS score per severity, for tools that want a number (GitHub's
#: ``security-severity``: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low).
SEVERITY_SCORE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
}


def package_label(finding: Finding) -> str:
    name = getattr(finding, "package_name", "")
    version = getattr(finding, "package_version", "")
    return f"{name} {version}".strip()


def where(finding: Finding) -> str:
    """Where the finding is, for people: ``path[:line]``, or ``image config``."""
    paths = [loc.path for loc in finding.locations]
    path = getattr(finding, "path", "") or (paths[0] if paths else "")
    source = getattr(finding, "source", "file")
    if source and source != "file":
        return f"{source} {path}".strip()
    if not path:
        return "image config"
    line = getattr(finding, "line", 0)
    return f"{path}:{line}" if isinstance(line, int) and line > 0 else path


def file_path(finding: Finding) -> str | None:
    """The file inside the image the finding points at, if any (no leading slash)."""
    if getattr(finding, "source", "file") not in ("file", None, ""):
        return None
    path = getattr(finding, "path", "") or (finding.locations[0].path if finding.locations else "")
    return path.lstrip("/") or None


def line_of(finding: Finding) -> int | None:
    line = getattr(finding, "line", 0)
    return line if isinstance(line, int) and line > 0 else None


def best_cvss(finding: Finding) -> CVSS | None:
    """The CVSS assessment behind the finding's severity: the highest score that rates the same."""
    if not isinstance(finding, VulnerabilityFinding):
        return None
    scored = [c for c in finding.cvss if c.score is not None]
    same = [c for c in scored if Severity.from_cvss_score(c.score) == finding.severity]
    pool = same or []
    return max(pool, key=lambda c: (c.score or 0.0, c.version)) if pool else None


def severity_score(finding: Finding) -> float | None:
    """A 0-10 number for the finding's severity: its CVSS score, else the severity's midpoint."""
    cvss = best_cvss(finding)
    if cvss is not None and cvss.score is not None:
        return float(cvss.score)
    return SEVERITY_SCORE.get(finding.severity)


def fingerprint(finding: Finding) -> str:
    """Stable across rescans of any image: what is wrong, in which package or place."""
    h = hashlib.sha256()
    for part in (
        str(finding.kind),
        finding.id,
        getattr(finding, "purl", "") or getattr(finding, "package_name", ""),
        where(finding),
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def layer_index(result: ScanResult, layer: str | None) -> int | None:
    if layer is None:
        return None
    for summary in result.sbom.image.layers:
        if layer in (summary.diff_id, summary.digest):
            return summary.index
    return None


def related_ids(finding: Finding) -> tuple[str, ...]:
    """The ids the finding's advisory names as related (an ELTS record's CVEs), else ()."""
    related = getattr(finding, "related", ())
    return tuple(related) if isinstance(related, tuple) else ()


def fixes_label(finding: Finding, shown: int = 3) -> str:
    """``fixes CVE-A, CVE-B (+n)`` for a finding with related ids, else ``""``."""
    related = related_ids(finding)
    if not related:
        return ""
    more = f" (+{len(related) - shown})" if len(related) > shown else ""
    return "fixes " + ", ".join(related[:shown]) + more


def display_title(finding: Finding) -> str:
    """The finding's title; without one, what its advisory fixes (``fixes CVE-A, CVE-B (+n)``)."""
    return finding.title or fixes_label(finding)


def is_fixable(finding: Finding) -> bool:
    return bool(getattr(finding, "fixed_versions", ()))
