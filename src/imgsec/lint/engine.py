"""Run every enabled rule over Dockerfiles; one bad file never stops the others."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from imgsec.errors import ImgsecError
from imgsec.lint.config import LintConfig
from imgsec.lint.model import FileResult, Finding, Rule, Severity
from imgsec.lint.parse import DockerfileError, decode_dockerfile, parse_dockerfile, read_dockerfile
from imgsec.lint.rules import ALL_RULES

log = logging.getLogger(__name__)

#: Directory walks skip these (vendored code and VCS metadata are not the user's Dockerfiles).
_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"})


def is_dockerfile_name(name: str) -> bool:
    """``Dockerfile``, ``Dockerfile.prod``, ``api.Dockerfile``, ``Containerfile`` (any case)."""
    low = name.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories walked (sorted, symlinked directories not followed) for Dockerfile names."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                found.extend(Path(root) / f for f in sorted(files) if is_dockerfile_name(f))
            out.extend(found)
        else:
            out.append(path)
    return out


def _ignored(rule: Rule, ids: frozenset[str], cfg: LintConfig) -> bool:
    if rule.id in ids or "ALL" in ids:
        return True
    return cfg.hadolint_ignores and any(code in ids for code in rule.hadolint)


def lint_text(text: str, path: str, config: LintConfig, rules: Sequence[Rule] = ALL_RULES) -> FileResult:
    """Lint Dockerfile ``text`` (named ``path`` in findings); raises DockerfileError for a bad file."""
    df = parse_dockerfile(text, path, config.build_args)
    findings: list[Finding] = []
    suppressed = 0
    for rule in rules:
        if rule.id in config.disabled_rules or (
            df.global_ignores and _ignored(rule, df.global_ignores, config)
        ):
            continue
        try:
            hits = list(rule.check(df, config))
        except Exception as exc:  # a rule bug must not hide the other rules' findings
            log.exception("rule %s failed on %s", rule.id, path)
            raise DockerfileError(f"internal error in rule {rule.id}: {type(exc).__name__}: {exc}") from exc
        seen: set[tuple[int, str]] = set()
        for h in hits:
            if (h.line, h.detail) in seen:
                continue
            seen.add((h.line, h.detail))
            ignored_here = df.ignores.get(h.line)
            if ignored_here and _ignored(rule, ignored_here, config):
                suppressed += 1
                continue
            findings.append(
                Finding(
                    rule_id=rule.id,
                    rule_name=rule.name,
                    severity=h.severity if h.severity is not None else rule.severity,
                    message=h.detail,
                    fix=rule.fix,
                    path=path,
                    line=h.line,
                    end_line=h.end_line,
                )
            )
    findings.sort(key=lambda f: (f.line, f.rule_id))
    return FileResult(path=path, findings=tuple(findings), suppressed=suppressed)


def lint_bytes(data: bytes, path: str, config: LintConfig) -> FileResult:
    """Lint raw bytes (stdin); a bad file becomes a result with ``error`` set."""
    try:
        return lint_text(decode_dockerfile(data), path, config)
    except ImgsecError as exc:
        return FileResult(path=path, error=str(exc))


def lint_file(path: Path, config: LintConfig) -> FileResult:
    """Lint one file; a bad file becomes a result with ``error`` set, never an exception."""
    try:
        return lint_text(read_dockerfile(path), str(path), config)
    except ImgsecError as exc:
        return FileResult(path=str(path), error=str(exc))
    except RecursionError:
        return FileResult(path=str(path), error="too deeply nested to lint")


def lint_paths(paths: Iterable[Path], config: LintConfig) -> list[FileResult]:
    """Lint files and directories (walked for Dockerfiles), in the order given."""
    return [lint_file(p, config) for p in expand_paths(paths)]


def failed(results: Iterable[FileResult], threshold: Severity) -> bool:
    """Some finding is at or above ``threshold``."""
    return any(f.severity >= threshold for r in results for f in r.findings)
