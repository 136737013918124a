"""All Dockerfile rules, in ID order.  IDs are ``IS-DF-NNN`` with one decade per group and never reused."""

from __future__ import annotations

from imgsec.lint.model import Rule
from imgsec.lint.rules import base_image, hardening, packages, remote, secrets, stages, user

ALL_RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            *base_image.RULES,
            *stages.RULES,
            *user.RULES,
            *secrets.RULES,
            *remote.RULES,
            *packages.RULES,
            *hardening.RULES,
        ),
        key=lambda r: r.id,
    )
)
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in ALL_RULES}

__all__ = ["ALL_RULES", "RULES_BY_ID"]
