"""CycloneDX 1.6 scan reports: the SBOM plus vulnerabilities, checked with the CycloneDX project's
own strict 1.6 schema validator and read back by imgsec's SBOM reader."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from imgsec.report.cyclonedx_vex import to_cyclonedx
from imgsec.sbom.formats import read_sbom
from imgsec.sbom.formats.cyclonedx import to_cyclonedx as sbom_to_cyclonedx
from imgsec.scan import ScanResult
from tests.unit.test_report_common import (
    CONFIG,
    FILTERED,
    HOSTILE_LOW,
    IGNORE_REASON,
    IGNORED,
    JINJA_HIGH,
    SECRET,
    SSL_CRIT,
    SSL_MEDIUM_UNFIXED,
    VEX_REASON,
    VEXED,
    sample_result,
)


def render(result: ScanResult | None = None) -> tuple[str, dict[str, Any]]:
    text = to_cyclonedx(result or sample_result())
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    return text, json.loads(text)


def vulns_by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in doc["vulnerabilities"]}


def test_components_are_the_sbom_and_affects_point_at_them() -> None:
    result = sample_result()
    _, doc = render(result)
    sbom_doc = json.loads(sbom_to_cyclonedx(result.sbom))
    strip = ("serialNumber", "metadata", "vulnerabilities")
    assert {k: v for k, v in doc.items() if k not in strip} == {
        k: v for k, v in sbom_doc.items() if k not in strip
    }
    refs = {c["bom-ref"]: c for c in doc["components"]}
    by_id = vulns_by_id(doc)
    assert refs[by_id[SSL_CRIT.id]["affects"][0]["ref"]]["name"] == "libssl3"
    assert refs[by_id[JINJA_HIGH.id]["affects"][0]["ref"]]["name"] == "jinja2"
    assert by_id[SSL_CRIT.id]["affects"][0]["versions"] == [{"version": "3.0.9-1", "status": "affected"}]


def test_only_vulnerabilities_are_listed() -> None:
    _, doc = render()
    ids = set(vulns_by_id(doc))
    assert SECRET.id not in ids and CONFIG.id not in ids
    assert FILTERED.id not in ids  # hidden by --severity: a display filter
    assert {SSL_CRIT.id, JINJA_HIGH.id, SSL_MEDIUM_UNFIXED.id, HOSTILE_LOW.id, VEXED.id, IGNORED.id} <= ids


def test_ratings_carry_cvss_vectors_scores_and_methods() -> None:
    _, doc = render()
    jinja = vulns_by_id(doc)[JINJA_HIGH.id]
    cvss = [r for r in jinja["ratings"] if r["method"] != "other"]
    # CycloneDX 1.6 scoreMethod names: CVSSv31 for 3.1, CVSSv4 for 4.0; severity from the score
    # with the CVSS v3.1/v4.0 qualitative scale (7.8 high, 5.4 medium).
    assert sorted((r["method"], r["score"], r["severity"], r["vector"]) for r in cvss) == [
        ("CVSSv31", 7.8, "high", JINJA_HIGH.cvss[0].vector),
        ("CVSSv4", 5.4, "medium", JINJA_HIGH.cvss[1].vector),
    ]
    verdict = [r for r in jinja["ratings"] if r["method"] == "other"]
    assert verdict == [
        {
            "source": {"name": "imgsec"},
            "severity": "high",
            "method": "other",
            "justification": "severity from cvss:osv:3.1",
        }
    ]
    assert {r["id"] for r in jinja["references"]} == set(JINJA_HIGH.aliases)
    assert jinja["recommendation"] == "Upgrade to 3.1.5"


def test_suppressed_findings_have_an_analysis() -> None:
    _, doc = render()
    by_id = vulns_by_id(doc)
    # OpenVEX vulnerable_code_not_in_execute_path is CycloneDX code_not_reachable.
    assert by_id[VEXED.id]["analysis"] == {
        "state": "not_affected",
        "justification": "code_not_reachable",
        "detail": VEX_REASON,
    }
    # An ignore file accepts a risk; it does not prove the package unaffected.
    assert by_id[IGNORED.id]["analysis"] == {
        "state": "exploitable",
        "response": ["will_not_fix"],
        "detail": IGNORE_REASON,
    }
    assert "analysis" not in by_id[SSL_CRIT.id]


def test_one_cve_in_two_packages_is_one_entry_with_two_affects() -> None:
    base = sample_result()
    from dataclasses import replace

    from tests.unit.test_report_common import JINJA2

    twin = replace(
        SSL_CRIT, purl=JINJA2.purl, package_name="jinja2", package_version="2.10", locations=JINJA2.locations
    )
    result = replace(base, findings=(SSL_CRIT, twin))
    _, doc = render(result)
    entries = [v for v in doc["vulnerabilities"] if v["id"] == SSL_CRIT.id]
    assert len(entries) == 1
    assert len(entries[0]["affects"]) == 2


def test_the_sbom_reader_still_reads_it() -> None:
    result = sample_result()
    text, _ = render(result)
    back = read_sbom(text.encode())
    assert sorted(p.purl for p in back.packages) == sorted(p.purl for p in result.sbom.packages)


def test_no_vulnerabilities_no_key() -> None:
    from dataclasses import replace

    _, doc = render(replace(sample_result(), findings=(SECRET,), suppressed=()))
    assert "vulnerabilities" not in doc


def test_related_ids_are_references_and_properties_and_the_document_validates() -> None:
    # A Debian ELTS advisory: no title, the CVEs it fixes as related ids (one also an alias here,
    # listed once).
    base = sample_result()
    ela = dataclasses.replace(
        SSL_CRIT,
        id="ELA-1208-1",
        title="",
        aliases=("CVE-2024-8925",),
        related=("CVE-2024-8925", "CVE-2024-8927"),
    )
    _, doc = render(dataclasses.replace(base, findings=(ela,)))  # strict 1.6 schema
    vuln = vulns_by_id(doc)["ELA-1208-1"]
    assert [r["id"] for r in vuln["references"]] == ["CVE-2024-8925", "CVE-2024-8927"]
    assert [p["value"] for p in vuln["properties"] if p["name"] == "imgsec:related"] == ["CVE-2024-8927"]
    assert vuln["description"] == "fixes CVE-2024-8927"  # the alias is not what the advisory "fixes"
