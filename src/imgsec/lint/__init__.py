"""Dockerfile linting: ``imgsec lint``.

Parse with BuildKit's parser (:mod:`imgsec.lint.parse`), run the rules of :mod:`imgsec.lint.rules`
(IDs ``IS-DF-NNN``), render with :mod:`imgsec.lint.output`.
"""

from __future__ import annotations

from imgsec.lint.config import LintConfig, resolve_lint_config
from imgsec.lint.engine import expand_paths, failed, lint_bytes, lint_file, lint_paths, lint_text
from imgsec.lint.model import FileResult, Finding, Rule, Severity
from imgsec.lint.parse import DockerfileError
from imgsec.lint.rules import ALL_RULES, RULES_BY_ID

__all__ = [
    "ALL_RULES",
    "RULES_BY_ID",
    "DockerfileError",
    "FileResult",
    "Finding",
    "LintConfig",
    "Rule",
    "Severity",
    "expand_paths",
    "failed",
    "lint_bytes",
    "lint_file",
    "lint_paths",
    "lint_text",
    "resolve_lint_config",
]
