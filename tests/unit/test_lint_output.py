"""JSON, SARIF 2.1.0 and Checkstyle renderings, and configuration resolution for the linter.

No copy of the SARIF 2.1.0 JSON schema is available offline here, so the SARIF test checks the structure
the specification (OASIS SARIF 2.1.0, sections 3.13-3.30) requires of the parts we emit.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from imgsec.config import Config
from imgsec.errors import UsageError
from imgsec.lint import ALL_RULES, FileResult, LintConfig, Severity, lint_text
from imgsec.lint.config import resolve_lint_config
from imgsec.lint.output import render_checkstyle, render_json, render_sarif

TEXT = "FROM debian\nRUN sudo apt-get update\nUSER root\n"


def _results() -> list[FileResult]:
    return [
        lint_text(TEXT, "svc/Dockerfile", LintConfig()),
        FileResult(path="bin/Dockerfile", error="binary file (NUL byte at line 1); not a Dockerfile"),
    ]


def test_sarif_structure_follows_the_2_1_0_spec() -> None:
    doc = json.loads(render_sarif(_results(), ALL_RULES))
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "imgsec"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == [r.id for r in ALL_RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
    results = run["results"]
    assert {r["ruleId"] for r in results} >= {"IS-DF-002", "IS-DF-060", "IS-DF-020"}
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]  # ruleIndex must point at the rule
        assert r["level"] in ("none", "note", "warning", "error") and r["message"]["text"]
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "svc/Dockerfile"
        region = loc["physicalLocation"]["region"]
        assert 1 <= region["startLine"] <= region["endLine"]
    sudo = next(r for r in results if r["ruleId"] == "IS-DF-060")
    assert sudo["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "bin/Dockerfile" in note["message"]["text"]


def test_json_output_lists_findings_errors_and_verdict() -> None:
    doc = json.loads(render_json(_results(), Severity.HIGH, True))
    assert doc["failed"] is True and doc["failure_threshold"] == "high"
    svc, bad = doc["files"]
    assert bad["error"].startswith("binary file") and bad["findings"] == []
    assert {(f["rule"], f["line"]) for f in svc["findings"]} >= {("IS-DF-002", 1), ("IS-DF-060", 2)}
    assert doc["summary"]["errors"] == 1
    assert doc["summary"]["findings"] == len(svc["findings"])


def test_checkstyle_is_well_formed_xml() -> None:
    root = ET.fromstring(render_checkstyle(_results()))
    assert root.tag == "checkstyle"
    files = {f.get("name"): f for f in root.findall("file")}
    errors = files["svc/Dockerfile"].findall("error")
    assert {e.get("source") for e in errors} >= {"imgsec.IS-DF-002", "imgsec.IS-DF-060"}
    assert all(e.get("severity") in ("error", "warning", "info") for e in errors)
    assert files["bin/Dockerfile"].find("error").get("source") == "imgsec.parse"  # type: ignore[union-attr]


def test_messages_with_markup_characters_are_escaped() -> None:
    text = 'FROM debian:12-slim\nENV API_TOKEN="<x>&\\"y"\nUSER 1\n'
    root = ET.fromstring(render_checkstyle([lint_text(text, "a&b/Dockerfile", LintConfig())]))
    assert root.find("file").get("name") == "a&b/Dockerfile"  # type: ignore[union-attr]


def test_config_file_section_and_flag_precedence(tmp_path: Path) -> None:
    cfg_file = tmp_path / "imgsec.yaml"
    cfg_file.write_text(
        "lint:\n  trusted-registries: [registry.example.com, ghcr.io/acme]\n"
        "  disabled-rules: is-df-004\n  failure-threshold: high\n  require-digest: false\n"
    )
    config = Config(file=Config.load(cfg_file).file, env={})
    resolved = resolve_lint_config(config)
    assert resolved.trusted_registries == ("registry.example.com", "ghcr.io/acme")
    assert resolved.disabled_rules == frozenset({"IS-DF-004"})
    assert resolved.failure_threshold is Severity.HIGH and resolved.require_digest is False
    flagged = resolve_lint_config(config, trusted_registries=["quay.io"], failure_threshold="low")
    assert flagged.trusted_registries == ("quay.io",) and flagged.failure_threshold is Severity.LOW
    env = resolve_lint_config(Config(file={}, env={"IMGSEC_FAILURE_THRESHOLD": "critical"}))
    assert env.failure_threshold is Severity.CRITICAL


def test_trusted_registry_prefixes() -> None:
    config = LintConfig(trusted_registries=("ghcr.io/acme", "index.docker.io"))
    text = "FROM ghcr.io/acme/base:1 AS a\nFROM ghcr.io/acmecorp/base:1 AS b\nFROM python:3.12-slim\nUSER 1\n"
    lines = [f.line for f in lint_text(text, "D", config).findings if f.rule_id == "IS-DF-001"]
    assert lines == [2]


@pytest.mark.parametrize("bad", ["severe", ""])
def test_bad_threshold_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        resolve_lint_config(Config(file={}, env={}), failure_threshold=bad)


def test_bad_build_arg_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        resolve_lint_config(Config(file={}, env={}), build_args=["NOVALUE"])
