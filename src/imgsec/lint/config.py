"""Linter settings: trusted registries, disabled rules, digest pinning, failure threshold, build args."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imgsec.config import Config, as_bool, as_list
from imgsec.errors import UsageError
from imgsec.lint.model import Severity

#: Findings at or above this severity make ``imgsec lint`` exit 1 unless configured otherwise.
DEFAULT_FAILURE_THRESHOLD = Severity.MEDIUM


@dataclass(frozen=True)
class LintConfig:
    """How to lint; the defaults are what ``imgsec lint`` uses with no flags and no config file."""

    #: Registries (``quay.io``, ``registry.example.com:5000``) or name prefixes (``ghcr.io/acme``) that
    #: base images may come from.  Empty means the trusted-registry rule is not enforced.
    trusted_registries: tuple[str, ...] = ()
    disabled_rules: frozenset[str] = frozenset()
    require_digest: bool = True
    failure_threshold: Severity = DEFAULT_FAILURE_THRESHOLD
    build_args: Mapping[str, str] = field(default_factory=dict)
    #: Also honour ``# hadolint ignore=DLxxxx`` comments for the imgsec rules equivalent to those codes.
    hadolint_ignores: bool = True


def _severity(value: Any) -> Severity:
    return value if isinstance(value, Severity) else Severity.parse(str(value))


def parse_build_args(items: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` as given to ``--build-arg``; a bare ``K`` is rejected (values never come from the environment)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def resolve_lint_config(
    config: Config,
    *,
    trusted_registries: list[str] | None = None,
    disabled_rules: list[str] | None = None,
    require_digest: bool | None = None,
    failure_threshold: str | None = None,
    build_args: list[str] | None = None,
) -> LintConfig:
    """Flags > ``IMGSEC_*`` > ``lint:`` section of the config file > top-level config keys > defaults."""
    trusted = config.get("trusted-registries", trusted_registries or None, [], as_list, section="lint")
    disabled = config.get("disabled-rules", disabled_rules or None, [], as_list, section="lint")
    digest = config.get("require-digest", require_digest, True, as_bool, section="lint")
    flag_threshold: Severity | None = None
    if failure_threshold is not None:
        try:
            flag_threshold = Severity.parse(failure_threshold)
        except ValueError as exc:
            raise UsageError(f"--failure-threshold: {exc}") from None
    threshold = config.get(
        "failure-threshold",
        flag_threshold,
        DEFAULT_FAILURE_THRESHOLD,
        _severity,
        section="lint",
    )
    return LintConfig(
        trusted_registries=tuple(t.strip().rstrip("/") for t in trusted if t.strip()),
        disabled_rules=frozenset(d.strip().upper() for d in disabled if d.strip()),
        require_digest=digest,
        failure_threshold=threshold,
        build_args=parse_build_args(build_args or []),
    )
