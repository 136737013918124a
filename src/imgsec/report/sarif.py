"""SARIF 2.1.0 (OASIS) scan reports, shaped for GitHub code scanning.

One run; ``tool.driver`` is imgsec with one rule per distinct finding id.  Each rule carries
``properties.security-severity`` (GitHub reads it to rank security alerts: the CVSS score behind the
finding's severity, else that severity's midpoint) and ``tags`` (``security`` makes GitHub treat the
rule as a security rule).  Results point at the file inside the image that holds the package or the
secret (the dpkg status file, a ``METADATA``, a ``package.json``), or, for findings about the image
config, at the image name.  ``partialFingerprints`` lets GitHub follow an alert across rescans.
Findings suppressed by an ignore file or VEX are kept as results with a ``suppressions`` entry
(SARIF section 3.27.23), so the record of the decision travels with the report.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from imgsec import __version__
from imgsec.findings import Finding, Severity
from imgsec.report._facts import (
    display_title,
    file_path,
    fingerprint,
    line_of,
    package_label,
    related_ids,
    severity_score,
    where,
)
from imgsec.scan import ScanResult, Suppressed

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "imgsec/finding/v1"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}


def level(severity: Severity) -> str:
    return _LEVEL[severity]


def _uri(path: str) -> str:
    """A relative URI reference for a path inside the image (RFC 3986; spaces etc. escaped)."""
    return quote(path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")


def _help_text(finding: Finding) -> str:
    lines = [display_title(finding) or finding.id]
    url = getattr(finding, "url", None)
    if finding.kind == "vulnerability":
        lines.append(f"Vulnerability {finding.id}")
        aliases = getattr(finding, "aliases", ())
        if aliases:
            lines.append("Aliases: " + ", ".join(aliases))
        if related_ids(finding):
            lines.append("Related (fixed by this advisory): " + ", ".join(related_ids(finding)))
    else:
        lines.append(f"{str(finding.kind).capitalize()} rule {finding.id}")
    lines.append(f"Severity: {finding.severity.name}")
    if url:
        lines.append(f"More: {url}")
    return "\n".join(lines)


def _help_markdown(finding: Finding) -> str:
    url = getattr(finding, "url", None)
    rows = [
        "| | |",
        "| --- | --- |",
        f"| {'Vulnerability' if finding.kind == 'vulnerability' else 'Rule'} | {_md(finding.id)} |",
        f"| Severity | {finding.severity.name} |",
    ]
    aliases = getattr(finding, "aliases", ())
    if aliases:
        rows.append(f"| Aliases | {_md(', '.join(aliases))} |")
    if related_ids(finding):
        rows.append(f"| Related | {_md(', '.join(related_ids(finding)))} |")
    if _plain_url(url):
        rows.append(f"| More | <{url}> |")
    return f"**{_md(display_title(finding) or finding.id)}**\n\n" + "\n".join(rows)


def _plain_url(url: object) -> bool:
    """An http(s) URL that is safe as a Markdown autolink (no spaces, brackets or quotes)."""
    return (
        isinstance(url, str)
        and url.startswith(("https://", "http://"))
        and not any(c.isspace() or c in "<>\"'`\\|" for c in url)
    )


def _md(text: str) -> str:
    # Hostile text must not turn into links, HTML or table cells in a Markdown viewer.
    out = []
    for ch in text:
        if ch in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[ch])  # no tag can form
        elif ch in "\\`*_{}[]()#+!|":
            out.append("\\" + ch)
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _message(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        fixed = ", ".join(getattr(finding, "fixed_versions", ())) or "none"
        parts = [
            f"Package: {getattr(finding, 'package_name', '')}",
            f"Installed Version: {getattr(finding, 'package_version', '')}",
            f"Vulnerability: {finding.id}",
            f"Severity: {finding.severity.name}",
            f"Fixed Version: {fixed}",
        ]
        url = getattr(finding, "url", None)
        if url:
            parts.append(f"Link: {url}")
        return f"{display_title(finding) or finding.id}\n" + "\n".join(parts)
    deleted = " - deleted by a later layer, still in the image" if getattr(finding, "deleted", False) else ""
    return f"{finding.title or finding.id} ({where(finding)}){deleted}"


def _location(finding: Finding, image_name: str) -> dict[str, Any]:
    path = file_path(finding)
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": _uri(path)} if path else {"uri": _uri(image_name)},
        "region": {"startLine": line_of(finding) or 1},
    }
    loc: dict[str, Any] = {"physicalLocation": physical}
    label = package_label(finding) or where(finding)
    loc["message"] = {"text": f"{image_name}: {label}"}
    return loc


def _rule(finding: Finding, worst: Severity) -> dict[str, Any]:
    tags = ["security", str(finding.kind), worst.name]
    props: dict[str, Any] = {"precision": "very-high", "tags": tags}
    score = severity_score(finding)
    if score is not None and worst is not Severity.UNKNOWN:
        props["security-severity"] = f"{score:.1f}"
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": _rule_name(finding),
        "shortDescription": {"text": display_title(finding) or finding.id},
        "fullDescription": {"text": display_title(finding) or finding.id},
        "defaultConfiguration": {"level": level(worst)},
        "help": {"text": _help_text(finding), "markdown": _help_markdown(finding)},
        "properties": props,
    }
    if related_ids(finding):
        props["related"] = list(related_ids(finding))
    url = getattr(finding, "url", None)
    if _plain_url(url):
        rule["helpUri"] = str(url)
    return rule


def _rule_name(finding: Finding) -> str:
    kind = {"vulnerability": "OsPackageVulnerability"}.get(str(finding.kind), str(finding.kind).title())
    if finding.kind == "vulnerability" and getattr(finding, "package_type", "") not in ("deb", "apk", "rpm"):
        kind = "LanguageSpecificPackageVulnerability"
    return kind


def _result(
    finding: Finding, index: dict[str, int], image_name: str, suppressed: Suppressed | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": index[finding.id],
        "level": level(finding.severity),
        "message": {"text": _message(finding)},
        "locations": [_location(finding, image_name)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": {"severity": finding.severity.name, "kind": str(finding.kind)},
    }
    purl = getattr(finding, "purl", "")
    if purl:
        result["properties"]["purl"] = purl
    if suppressed is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": suppressed.reason}
        ]
    return result


def _reportable_suppressions(result: ScanResult) -> list[Suppressed]:
    # Severity and --ignore-unfixed are display filters, not decisions about a finding.
    return [s for s in result.suppressed if s.reason not in ("severity", "unfixed")]


def to_sarif(result: ScanResult) -> str:
    """Render ``result`` as a SARIF 2.1.0 log with one run."""
    image = result.sbom.image
    shown: list[tuple[Finding, Suppressed | None]] = [(f, None) for f in result.findings]
    shown += [(s.finding, s) for s in _reportable_suppressions(result)]

    worst: dict[str, Severity] = {}
    first: dict[str, Finding] = {}
    for f, _ in shown:
        if f.id not in first or f.severity > worst[f.id]:
            first[f.id] = f
        worst[f.id] = max(worst.get(f.id, Severity.UNKNOWN), f.severity)
    rule_ids = sorted(first)
    index = {rid: i for i, rid in enumerate(rule_ids)}
    rules = [_rule(first[rid], worst[rid]) for rid in rule_ids]

    run_props: dict[str, Any] = {"imageName": image.name}
    if image.manifest_digest:
        run_props["imageDigest"] = image.manifest_digest
    if image.repo_digests:
        run_props["repoDigests"] = list(image.repo_digests)
    if result.sbom.distro is not None:
        run_props["distro"] = f"{result.sbom.distro.id} {result.sbom.distro.version_id or ''}".strip()
    if result.database is not None and result.database.built_at:
        run_props["databaseBuiltAt"] = result.database.built_at

    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imgsec",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "toolExecutionNotifications": [
                            {"level": "warning", "message": {"text": w}} for w in result.warnings
                        ],
                    }
                ],
                "results": [_result(f, index, image.name, s) for f, s in shown],
                "columnKind": "utf16CodeUnits",
                "properties": run_props,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
