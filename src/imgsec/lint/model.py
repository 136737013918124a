"""Plain data of the Dockerfile linter: severities, rules, findings and per-file results."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imgsec.lint.config import LintConfig
    from imgsec.lint.parse import Dockerfile


class Severity(enum.IntEnum):
    """Ordered severities; a finding fails the run when it is at or above the failure threshold."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"high"`` (any case) to :attr:`HIGH`; raises ValueError naming the allowed values."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            allowed = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; choose one of: {allowed}") from None


@dataclass(frozen=True)
class Hit:
    """What a rule check returns: where it matched and the specific detail of this match."""

    line: int
    end_line: int
    detail: str
    #: Overrides the rule's severity for this match (e.g. a recognisable token is worse than a name).
    severity: Severity | None = None


CheckFn = Callable[["Dockerfile", "LintConfig"], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """One Dockerfile rule: a stable ID, what it flags, how to fix it, and its check."""

    id: str
    name: str
    severity: Severity
    title: str
    fix: str
    group: str
    check: CheckFn = field(compare=False, repr=False)
    #: hadolint rule codes that flag the same thing (used for ``# hadolint ignore=`` and agreement tests).
    hadolint: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One rule match in one file."""

    rule_id: str
    rule_name: str
    severity: Severity
    message: str
    fix: str
    path: str
    line: int
    end_line: int


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: its findings, or the error that stopped it from being linted."""

    path: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    suppressed: int = 0
