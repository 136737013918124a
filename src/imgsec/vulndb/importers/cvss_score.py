"""CVSS vector -> (version, base score), through the ``cvss`` package (RedHat's reference code)."""

from __future__ import annotations

import functools

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]


@functools.lru_cache(maxsize=4096)
def score_vector(vector: str) -> tuple[str, float] | None:
    """``("3.1", 9.8)`` for ``CVSS:3.1/AV:N/...``; None for a vector the spec rejects."""
    vector = vector.strip()
    try:
        if vector.startswith("CVSS:4.0/"):
            return "4.0", float(CVSS4(vector).base_score)
        if vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            return vector[5:8], float(CVSS3(vector).base_score)
        if vector.startswith("AV:"):
            return "2.0", float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError, TypeError, ArithmeticError):
        return None
    return None
