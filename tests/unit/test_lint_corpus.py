"""The rule corpus: every ``bad/IS-DF-NNN-*.Dockerfile`` triggers its rule, every ``good/IS-DF-NNN-*`` does not.

The expectations come from the file names, which were written from the rule definitions in the issue and
Docker's documentation (not from the linter's output); ``good/clean-*`` files follow every practice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgsec.lint import ALL_RULES, LintConfig, lint_file

CORPUS = Path(__file__).resolve().parents[1] / "data" / "dockerfiles"
#: The corpus is linted as a team that trusts Docker Hub, its own registry and Google's distroless.
TRUSTED = ("docker.io", "registry.example.com", "gcr.io")
CONFIG = LintConfig(trusted_registries=TRUSTED)
RULE_IDS = {r.id for r in ALL_RULES}


def _cases(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).glob("IS-DF-*.Dockerfile"))


def _rule_of(path: Path) -> str:
    return path.name[: len("IS-DF-000")]


@pytest.mark.parametrize("path", _cases("bad"), ids=lambda p: p.name)
def test_bad_file_triggers_its_rule(path: Path) -> None:
    result = lint_file(path, CONFIG)
    assert result.error is None
    rule = _rule_of(path)
    hits = [f for f in result.findings if f.rule_id == rule]
    assert hits, f"{rule} expected in {path.name}; got {[f.rule_id for f in result.findings]}"
    # Every finding points at a real line of the file.
    n_lines = len(path.read_text().splitlines())
    assert all(1 <= f.line <= f.end_line <= n_lines for f in result.findings)


@pytest.mark.parametrize("path", _cases("good"), ids=lambda p: p.name)
def test_good_file_does_not_trigger_its_rule(path: Path) -> None:
    result = lint_file(path, CONFIG)
    assert result.error is None
    rule = _rule_of(path)
    assert rule not in {f.rule_id for f in result.findings}


@pytest.mark.parametrize("path", sorted((CORPUS / "good").glob("clean-*.Dockerfile")), ids=lambda p: p.name)
def test_clean_files_have_no_findings(path: Path) -> None:
    result = lint_file(path, CONFIG)
    assert result.error is None
    assert [(f.rule_id, f.message) for f in result.findings] == []


def test_every_rule_has_triggering_and_non_triggering_cases() -> None:
    bad = {_rule_of(p) for p in _cases("bad")}
    good = {_rule_of(p) for p in _cases("good")}
    assert bad == RULE_IDS
    assert good == RULE_IDS


def test_rule_ids_are_stable_and_documented() -> None:
    ids = [r.id for r in ALL_RULES]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 9 and i.startswith("IS-DF-") and i[6:].isdigit() for i in ids)
    names = [r.name for r in ALL_RULES]
    assert len(names) == len(set(names))
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lint-rules.md").read_text()
    for r in ALL_RULES:
        assert r.id in doc, f"{r.id} missing from docs/lint-rules.md"
