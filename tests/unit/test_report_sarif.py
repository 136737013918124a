"""SARIF 2.1.0 reports.

No installed package ships the SARIF 2.1.0 JSON schema (site-packages searched: cyclonedx ships its
own schemas only), so :func:`check_sarif` checks the constraints of the OASIS SARIF 2.1.0 standard
that this report can break, with the section they come from, plus what GitHub code scanning reads.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from imgsec.findings import Severity
from imgsec.report.sarif import to_sarif
from imgsec.scan import ScanResult
from tests.unit.test_report_common import (
    CONFIG,
    FILTERED,
    HOSTILE,
    HOSTILE_LOW,
    IGNORE_REASON,
    IGNORED,
    IMAGE_NAME,
    JINJA_HIGH,
    SECRET,
    SSL_CRIT,
    SSL_MEDIUM_UNFIXED,
    SSL_UNKNOWN,
    VEX_REASON,
    VEXED,
    github_band,
    sample_result,
)

_LEVELS = {"none", "note", "warning", "error"}  # 3.27.10
_SUPPRESSION_KINDS = {"inSource", "external"}  # 3.35.2
_SUPPRESSION_STATUS = {"accepted", "underReview", "rejected"}  # 3.35.3
# RFC 3986 URI-reference characters (unreserved, reserved, '%').
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")


def _message(m: Any) -> None:
    assert isinstance(m, dict) and isinstance(m.get("text"), str)  # 3.11.7: text or id


def check_sarif(doc: dict[str, Any]) -> None:
    assert doc["version"] == "2.1.0"  # 3.13.2
    assert isinstance(doc["runs"], list)  # 3.13.4
    for run in doc["runs"]:
        driver = run["tool"]["driver"]  # 3.14.6, 3.18.2
        assert isinstance(driver["name"], str) and driver["name"]
        rules = driver.get("rules", [])
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids))  # 3.49.3: unique within the component
        for rule in rules:
            for key in ("shortDescription", "fullDescription"):
                if key in rule:
                    _message(rule[key])
            if "defaultConfiguration" in rule:
                assert rule["defaultConfiguration"]["level"] in _LEVELS
            if "helpUri" in rule:
                assert urlsplit(rule["helpUri"]).scheme in ("http", "https")
            for key, value in rule.get("properties", {}).items():
                assert isinstance(key, str)
                if key == "tags":
                    assert len(value) == len(set(value))  # 3.8.4: tags are unique strings
        for inv in run.get("invocations", []):
            assert isinstance(inv["executionSuccessful"], bool)  # 3.20.14 required
            for note in inv.get("toolExecutionNotifications", []):
                _message(note["message"])
        for result in run["results"]:
            _message(result["message"])  # 3.27.11 required
            assert result["ruleId"] in ids
            assert ids[result["ruleIndex"]] == result["ruleId"]  # 3.27.6
            assert result["level"] in _LEVELS
            for fp in result.get("partialFingerprints", {}).values():
                assert isinstance(fp, str)  # 3.27.17
            for loc in result["locations"]:
                phys = loc["physicalLocation"]
                uri = phys["artifactLocation"]["uri"]
                assert _URI_CHARS.match(uri), uri  # 3.4.3: a URI reference
                assert phys["region"]["startLine"] >= 1  # 3.30.5
            for sup in result.get("suppressions", []):
                assert sup["kind"] in _SUPPRESSION_KINDS
                assert sup.get("status", "accepted") in _SUPPRESSION_STATUS


def render(result: ScanResult | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(to_sarif(result or sample_result()))
    check_sarif(doc)
    return doc


def results_by_id(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in doc["runs"][0]["results"]:
        out.setdefault(r["ruleId"], []).append(r)
    return out


def test_one_run_one_rule_per_finding_id() -> None:
    doc = render()
    assert len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "imgsec"
    expected = {f.id for f in sample_result().findings} | {VEXED.id, IGNORED.id}
    assert {r["id"] for r in driver["rules"]} == expected


def test_levels_follow_severity() -> None:
    by_id = results_by_id(render())
    expected = {
        SSL_CRIT.id: "error",
        JINJA_HIGH.id: "error",
        SECRET.id: "error",
        SSL_MEDIUM_UNFIXED.id: "warning",
        CONFIG.id: "warning",
        HOSTILE_LOW.id: "note",
        SSL_UNKNOWN.id: "note",
    }
    assert {k: v[0]["level"] for k, v in by_id.items() if k in expected} == expected


def test_security_severity_as_github_reads_it() -> None:
    doc = render()
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules[SSL_CRIT.id]["properties"]["security-severity"] == "9.1"  # its CVSS v3.1 score
    assert rules[JINJA_HIGH.id]["properties"]["security-severity"] == "7.8"
    severities = {f.id: f.severity for f in sample_result().findings}
    for rid, sev in severities.items():
        props = rules[rid]["properties"]
        assert "security" in props["tags"]
        if sev is Severity.UNKNOWN:
            assert "security-severity" not in props
        else:
            assert github_band(float(props["security-severity"])) == sev, rid


def test_locations_point_into_the_image() -> None:
    by_id = results_by_id(render())

    def phys(rid: str) -> dict[str, Any]:
        loc: dict[str, Any] = by_id[rid][0]["locations"][0]["physicalLocation"]
        return loc

    assert phys(SSL_CRIT.id)["artifactLocation"]["uri"] == "var/lib/dpkg/status"
    assert unquote(phys(JINJA_HIGH.id)["artifactLocation"]["uri"]) == JINJA_HIGH.locations[0].path
    assert phys(SECRET.id)["artifactLocation"]["uri"] == "root/.aws/credentials"
    assert phys(SECRET.id)["region"]["startLine"] == 2
    # A space in a path is escaped (a URI reference cannot hold one) and decodes back.
    hostile_uri = phys(HOSTILE_LOW.id)["artifactLocation"]["uri"]
    assert " " not in hostile_uri and unquote(hostile_uri) == HOSTILE_LOW.locations[0].path
    # Image-config findings have no file: the image is the artifact.
    assert unquote(phys(CONFIG.id)["artifactLocation"]["uri"]) == IMAGE_NAME


def test_messages_say_package_versions_and_fix() -> None:
    text = results_by_id(render())[SSL_CRIT.id][0]["message"]["text"]
    for part in ("libssl3", "3.0.9-1", "3.0.15-1~deb12u1", SSL_CRIT.id):
        assert part in text
    secret = results_by_id(render())[SECRET.id][0]["message"]["text"]
    assert "root/.aws/credentials:2" in secret and "deleted" in secret


def test_suppressed_findings_carry_the_decision_and_display_filters_drop() -> None:
    by_id = results_by_id(render())
    assert by_id[VEXED.id][0]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": VEX_REASON}
    ]
    assert by_id[IGNORED.id][0]["suppressions"][0]["justification"] == IGNORE_REASON
    assert FILTERED.id not in by_id
    assert all("suppressions" not in r[0] for k, r in by_id.items() if k not in (VEXED.id, IGNORED.id))


def test_fingerprints_are_stable_and_distinct() -> None:
    first = render()
    second = render()
    fps = [r["partialFingerprints"] for r in first["runs"][0]["results"]]
    assert fps == [r["partialFingerprints"] for r in second["runs"][0]["results"]]
    values = [v for fp in fps for v in fp.values()]
    assert len(values) == len(set(values))


def test_hostile_text_stays_text_in_markdown_help() -> None:
    rules = {r["id"]: r for r in render()["runs"][0]["tool"]["driver"]["rules"]}
    md = rules[HOSTILE_LOW.id]["help"]["markdown"]
    assert "<script" not in md and "<img" not in md and "](javascript" not in md
    assert "javascript:" not in rules[HOSTILE_LOW.id].get("helpUri", "")  # not an http(s) URL
    # The table keeps its two columns: every row has exactly three unescaped pipes.
    for row in md.splitlines()[2:]:
        assert len(re.findall(r"(?<!\\)\|", row)) == 3, row


def test_empty_scan_is_a_valid_log() -> None:
    base = sample_result()
    empty = ScanResult(sbom=base.sbom, findings=())
    doc = render(empty)
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_related_ids_in_rule_help_and_properties_hostile_ones_as_text() -> None:
    # A Debian ELTS advisory has no title and names the CVEs it fixes as related ids; those come
    # from advisory data, so a hostile one must stay text in the Markdown help.
    base = sample_result()
    ela = dataclasses.replace(
        SSL_CRIT, id="ELA-1208-1", title="", related=("CVE-2024-8925", "CVE-2024-8927", HOSTILE)
    )
    rules = {
        r["id"]: r
        for r in render(dataclasses.replace(base, findings=(ela,)))["runs"][0]["tool"]["driver"]["rules"]
    }
    rule = rules["ELA-1208-1"]
    assert rule["properties"]["related"] == ["CVE-2024-8925", "CVE-2024-8927", HOSTILE]
    assert rule["shortDescription"]["text"] == "fixes CVE-2024-8925, CVE-2024-8927, " + HOSTILE
    assert "CVE-2024-8925, CVE-2024-8927" in rule["help"]["text"]
    md = rule["help"]["markdown"]
    assert "<script" not in md and "<img" not in md and "](javascript" not in md
    for row in md.splitlines()[2:]:
        assert len(re.findall(r"(?<!\\)\|", row)) == 3, row
