"""CycloneDX 1.6 with ``vulnerabilities[]``: the image's SBOM plus what is wrong with it (a "BOM
with embedded VEX", CycloneDX's term).

The components are exactly :func:`imgsec.sbom.formats.cyclonedx.to_cyclonedx`'s; each
vulnerability finding becomes a ``vulnerabilities[]`` entry:

- ``id`` the preferred id, ``references`` its aliases and related ids (the CVEs a Debian ELTS
  advisory fixes; also listed as ``imgsec:related`` properties), ``source``/``advisories`` its URL;
- ``ratings``: one per CVSS assessment (method ``CVSSv2``/``CVSSv3``/``CVSSv31``/``CVSSv4``, score,
  vector, severity from the score) and imgsec's own verdict (method ``other``) with the severity
  the report uses and where it came from;
- ``affects``: the ``bom-ref`` of the component (the package) with the installed version;
- ``recommendation``: the fixed versions; ``properties`` ``imgsec:fixStatus``/``imgsec:kev``;
- ``analysis`` for findings suppressed by VEX (its state and justification carried over) or by an
  ignore file (``exploitable`` with response ``will_not_fix``: accepted, not disproved).

Secrets and misconfigurations are not vulnerabilities of a component and are left out; the JSON
and SARIF reports carry them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from packageurl import PackageURL

from imgsec.findings import Finding, Severity, VulnerabilityFinding
from imgsec.scan import ScanResult, Suppressed

_METHOD = {"2.0": "CVSSv2", "3.0": "CVSSv3", "3.1": "CVSSv31", "4.0": "CVSSv4"}
_CDX_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.UNKNOWN: "unknown",
}
_VEX_REASON = re.compile(r"^vex: (?P<status>[a-z_]+)(?: \((?P<why>.*)\))? from (?P<source>.*)$", re.S)
#: OpenVEX status -> CycloneDX analysis state.
_STATE = {
    "not_affected": "not_affected",
    "fixed": "resolved",
    "resolved": "resolved",
    "resolved_with_pedigree": "resolved_with_pedigree",
    "false_positive": "false_positive",
}
_CDX_JUSTIFICATIONS = frozenset(
    {
        "code_not_present",
        "code_not_reachable",
        "requires_configuration",
        "requires_dependency",
        "requires_environment",
        "protected_by_compiler",
        "protected_at_runtime",
        "protected_at_perimeter",
        "protected_by_mitigating_control",
    }
)
#: OpenVEX justification -> the CycloneDX one that says the same (only exact equivalents).
_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def _norm_purl(text: str) -> str:
    try:
        return PackageURL.from_string(text).to_string()
    except ValueError:
        return text


def _component_refs(doc: dict[str, Any]) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(purl, first location path) -> bom-ref, and purl -> bom-ref (first seen)."""
    by_place: dict[tuple[str, str], str] = {}
    by_purl: dict[str, str] = {}
    for comp in doc.get("components", []):
        purl, ref = comp.get("purl"), comp.get("bom-ref")
        if not purl or not ref:
            continue
        purl = _norm_purl(purl)
        path = next(
            (p["value"] for p in comp.get("properties", []) if p.get("name") == "imgsec:location:0:path"),
            "",
        )
        by_place.setdefault((purl, path), ref)
        by_purl.setdefault(purl, ref)
    return by_place, by_purl


def _ratings(f: VulnerabilityFinding) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in f.cvss:
        rating: dict[str, Any] = {"source": {"name": c.source or "unknown"}}
        if c.score is not None:
            rating["score"] = c.score
            rating["severity"] = _CDX_SEVERITY[Severity.from_cvss_score(c.score)]
        method = _METHOD.get(c.version)
        rating["method"] = method or "other"
        if c.vector:
            rating["vector"] = c.vector
        out.append(rating)
    verdict: dict[str, Any] = {
        "source": {"name": "imgsec"},
        "severity": _CDX_SEVERITY[f.severity],
        "method": "other",
    }
    if f.severity_source:
        verdict["justification"] = f"severity from {f.severity_source}"
    out.append(verdict)
    return out


def _analysis(reason: str) -> dict[str, Any]:
    m = _VEX_REASON.match(reason)
    if m and m.group("status") in _STATE:
        analysis: dict[str, Any] = {"state": _STATE[m.group("status")]}
        why = m.group("why")
        if why in _CDX_JUSTIFICATIONS:
            analysis["justification"] = why
        elif why in _JUSTIFICATION:
            analysis["justification"] = _JUSTIFICATION[why]
        analysis["detail"] = reason
        return analysis
    # An ignore-file entry accepts the risk; it does not show the package unaffected.
    return {"state": "exploitable", "response": ["will_not_fix"], "detail": reason}


def _entry(
    findings: list[VulnerabilityFinding], refs: list[str], suppressed: Suppressed | None
) -> dict[str, Any]:
    f = findings[0]
    entry: dict[str, Any] = {"id": f.id}
    if f.url and f.url.startswith(("https://", "http://")):
        entry["source"] = {"name": f.ecosystem or "imgsec", "url": f.url}
        entry["advisories"] = [{"url": f.url}]
    elif f.ecosystem:
        entry["source"] = {"name": f.ecosystem}
    aliases = sorted({a for x in findings for a in x.aliases} - {f.id})
    # Related ids (the CVEs an ELTS advisory fixes) are references too: what VEX consumers match on.
    related = sorted({r for x in findings for r in x.related} - {f.id} - set(aliases))
    refs_out = [*aliases, *related]
    if refs_out:
        entry["references"] = [{"id": a, "source": {"name": _alias_source(a)}} for a in refs_out]
    entry["ratings"] = _ratings(f)
    if f.title or related:
        entry["description"] = f.title or "fixes " + ", ".join(related)
    fixed = sorted({v for x in findings for v in x.fixed_versions})
    if fixed:
        entry["recommendation"] = "Upgrade to " + " or ".join(fixed)
    if suppressed is not None:
        entry["analysis"] = _analysis(suppressed.reason)
    versions: dict[str, list[dict[str, str]]] = defaultdict(list)
    for x, ref in zip(findings, refs, strict=True):
        if x.package_version and {"version": x.package_version, "status": "affected"} not in versions[ref]:
            versions[ref].append({"version": x.package_version, "status": "affected"})
    entry["affects"] = [
        {"ref": ref, **({"versions": versions[ref]} if versions[ref] else {})} for ref in dict.fromkeys(refs)
    ]
    entry["properties"] = [
        {"name": "imgsec:fixStatus", "value": str(f.status)},
        {"name": "imgsec:kev", "value": "true" if f.kev else "false"},
        *({"name": "imgsec:related", "value": r} for r in related),
    ]
    return entry


def _alias_source(alias: str) -> str:
    prefix = alias.split("-", 1)[0].upper()
    return {"CVE": "NVD", "GHSA": "GitHub", "PYSEC": "PyPA", "GO": "Go", "RUSTSEC": "RustSec"}.get(
        prefix, prefix or "unknown"
    )


def vulnerabilities(result: ScanResult, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """``vulnerabilities[]`` for ``result``, pointing at the components of ``doc`` (its SBOM)."""
    by_place, by_purl = _component_refs(doc)
    groups: dict[tuple[str, str | None], tuple[list[VulnerabilityFinding], list[str], Suppressed | None]] = {}
    shown: list[tuple[Finding, Suppressed | None]] = [(f, None) for f in result.findings]
    shown += [(s.finding, s) for s in result.suppressed if s.reason not in ("severity", "unfixed")]
    for f, s in shown:
        if not isinstance(f, VulnerabilityFinding) or not f.purl:
            continue
        purl = _norm_purl(f.purl)
        path = f.locations[0].path if f.locations else ""
        ref = by_place.get((purl, path)) or by_purl.get(purl)
        if ref is None:
            continue  # not a component of this SBOM (cannot happen for findings made from it)
        key = (f.id, s.reason if s else None)
        found, refs, _ = groups.setdefault(key, ([], [], s))
        found.append(f)
        refs.append(ref)
    out: list[dict[str, Any]] = []
    for (vid, _reason), (found, refs, s) in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        ref = f"vuln:{vid}" + (f":{len(out)}" if any(e["id"] == vid for e in out) else "")
        out.append({"bom-ref": ref, **_entry(found, refs, s)})
    return out


def to_cyclonedx(result: ScanResult) -> str:
    """The scanned image's CycloneDX 1.6 SBOM with its vulnerabilities embedded."""
    from imgsec.sbom.formats.cyclonedx import to_cyclonedx as sbom_to_cyclonedx

    doc: dict[str, Any] = json.loads(sbom_to_cyclonedx(result.sbom))
    vulns = vulnerabilities(result, doc)
    if vulns:
        doc["vulnerabilities"] = vulns
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
