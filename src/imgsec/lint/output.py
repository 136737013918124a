"""Machine-readable renderings of lint results: JSON, SARIF 2.1.0 and Checkstyle XML.

The table for terminals is drawn by the CLI (rich lives in ``cli/``); everything here is plain text.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from imgsec import __version__
from imgsec.lint.model import FileResult, Rule, Severity

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning reads a CVSS-like "security-severity" to sort security alerts.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_CHECKSTYLE_SEVERITY = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}


def render_json(results: Sequence[FileResult], threshold: Severity, failed: bool) -> str:
    files = [
        {
            "path": r.path,
            "error": r.error,
            "suppressed": r.suppressed,
            "findings": [
                {
                    "rule": f.rule_id,
                    "name": f.rule_name,
                    "severity": f.severity.label,
                    "message": f.message,
                    "fix": f.fix,
                    "line": f.line,
                    "end_line": f.end_line,
                }
                for f in r.findings
            ],
        }
        for r in results
    ]
    counts = {s.label: 0 for s in Severity}
    for r in results:
        for f in r.findings:
            counts[f.severity.label] += 1
    doc = {
        "tool": {"name": "imgsec", "version": __version__},
        "failure_threshold": threshold.label,
        "failed": failed,
        "files": files,
        "summary": {
            "files": len(results),
            "errors": sum(1 for r in results if r.error),
            "findings": sum(counts.values()),
            "by_severity": counts,
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _uri(path: str) -> str:
    return PurePath(path).as_posix() if path != "-" else "stdin"


def render_sarif(results: Sequence[FileResult], rules: Sequence[Rule]) -> str:
    rule_index = {r.id: i for i, r in enumerate(rules)}
    sarif_rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": f"{r.title}. Fix: {r.fix}"},
            "help": {"text": r.fix, "markdown": f"**{r.id}** {r.title}\n\nFix: {r.fix}"},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {
                "tags": ["security", "dockerfile", r.group],
                "security-severity": _SECURITY_SEVERITY[r.severity],
                "precision": "high",
            },
        }
        for r in rules
    ]
    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    for r in results:
        artifacts.append({"location": {"uri": _uri(r.path)}})
        if r.error:
            notifications.append(
                {
                    "level": "error",
                    "message": {"text": f"{r.path}: {r.error}"},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(r.path)}}}],
                }
            )
        for f in r.findings:
            result: dict[str, Any] = {
                "ruleId": f.rule_id,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f.path)},
                            "region": {"startLine": f.line, "endLine": max(f.line, f.end_line)},
                        }
                    }
                ],
                "properties": {"severity": f.severity.label},
            }
            if f.rule_id in rule_index:
                result["ruleIndex"] = rule_index[f.rule_id]
            sarif_results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "imgsec",
                        "version": __version__,
                        "rules": sarif_rules,
                    }
                },
                "artifacts": artifacts,
                "invocations": [
                    {"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}
                ],
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_checkstyle(results: Sequence[FileResult]) -> str:
    root = ET.Element("checkstyle", version="4.3")
    for r in results:
        node = ET.SubElement(root, "file", name=r.path)
        if r.error:
            ET.SubElement(node, "error", line="1", severity="error", message=r.error, source="imgsec.parse")
        for f in r.findings:
            ET.SubElement(
                node,
                "error",
                line=str(f.line),
                column="1",
                severity=_CHECKSTYLE_SEVERITY[f.severity],
                message=f"{f.message} ({f.rule_id})",
                source=f"imgsec.{f.rule_id}",
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
