"""Secret findings as plain data; nothing here ever holds a secret in full.

A detector turns the bytes it matched into a :func:`redact`-ed string at once, so the per-layer
results (which may be cached, logged or rendered) and the findings built from them only carry the
redacted form: a few leading characters, ``****`` and the length.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgsec.findings import Finding, Severity

#: Where a secret was found: a file in a layer, or a field of the image config.
SOURCE_FILE = "file"
SOURCE_ENV = "config.Env"
SOURCE_LABEL = "config.Labels"
SOURCE_HISTORY = "config.history"


def redact(secret: str) -> str:
    """``ghp_****(40)``: at most 4 leading characters (never more than a quarter), then the length.

    A short secret shows less (a 6-character password shows 1 character), so the shown part never
    gives away most of it.
    """
    keep = min(4, len(secret) // 4)
    return f"{secret[:keep]}****({len(secret)})"


@dataclass(frozen=True)
class SecretMatch:
    """One secret one rule found in one file (the route's per-file result). Only redacted text."""

    rule_id: str
    severity: Severity
    title: str
    line: int
    match: str


@dataclass(frozen=True)
class SecretFinding(Finding):
    """A secret in an image: in a layer's file (``source="file"``) or in the image config.

    ``path`` is the file path for files, the variable name for ``config.Env``, the label key for
    ``config.Labels`` and ``history[N]`` for ``config.history``; ``kind`` is always
    :attr:`~imgsec.findings.FindingKind.SECRET`.  ``layer_index`` is the position of
    the layer (``layer`` its diff_id); ``deleted`` is true when a later layer deleted or replaced the
    file, so the secret is not visible in a running container but anyone who pulls the image has it.
    """

    source: str = SOURCE_FILE
    path: str = ""
    line: int = 0
    match: str = ""
    layer_index: int | None = None
    deleted: bool = False
