"""Suppressions: ignore files (``.imgsecignore``) and VEX documents, applied before exit codes.

Ignore file, plain form (Trivy's ``.trivyignore`` users will recognise it)::

    # why we accept this
    CVE-2023-1234
    CVE-2023-5678 exp:2026-12-31     # expires: reported again from that day on
    IS-SEC-001

YAML form (``.imgsecignore.yaml`` or any file whose first line is a YAML mapping)::

    ignore:
      - id: CVE-2023-1234
        reason: not reachable, we never parse untrusted XML
        expires: 2026-12-31
        packages: [libxml2]          # optional: only for these package names (or purls)
        paths: [usr/lib/app/*]       # optional: only for findings at these paths (glob)

An id matches a finding's id or any of its aliases.  An expired rule no longer suppresses.

Related ids (a Debian ELTS ``ELA-...`` advisory names the CVEs it fixes as *related*, see
``VulnerabilityFinding.related``): a rule or VEX statement naming the advisory's own id suppresses
it as above.  Rules and statements naming related CVEs suppress the finding only when *every*
related id is suppressed by this same set of ignore rules and VEX statements (each judged as if the
finding carried that CVE id, with the same package, paths and expiry): an advisory fixing CVE-A and
CVE-B stays reported while CVE-B is still open.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgsec.errors import InputError
from imgsec.findings import Finding
from imgsec.sbom.model import ImageSummary

if TYPE_CHECKING:
    from imgsec.vex import ImageIdentity

DEFAULT_IGNORE_FILES = (".imgsecignore", ".imgsecignore.yaml")
_MAX_FILE = 4 * 1024 * 1024
_EXP_RE = re.compile(r"^exp:(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class IgnoreRule:
    id: str
    reason: str = ""
    expires: date | None = None
    packages: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    source: str = ""

    def matches(self, finding: Finding, today: date) -> bool:
        if self.expires is not None and today > self.expires:
            return False
        ids = {finding.id, *getattr(finding, "aliases", ())}
        if self.id not in ids:
            return False
        if self.packages:
            names = {getattr(finding, "package_name", ""), getattr(finding, "purl", "")}
            if not names & set(self.packages):
                return False
        if self.paths:
            paths = [loc.path for loc in finding.locations]
            if not any(fnmatch.fnmatchcase(p, pat.lstrip("/")) for p in paths for pat in self.paths):
                return False
        return True


@dataclass(frozen=True)
class Suppressions:
    rules: tuple[IgnoreRule, ...] = ()
    vex: tuple[Any, ...] = field(default_factory=tuple)

    def suppresses(self, finding: Finding, now: datetime, image: ImageSummary | None = None) -> str | None:
        """Why ``finding`` (found in ``image``) is suppressed, or None.

        VEX statements about an image apply only when they name ``image`` (none: never)."""
        today = now.astimezone(UTC).date()
        identity: ImageIdentity | None = None
        if self.vex:
            from imgsec.vex import ImageIdentity

            identity = ImageIdentity.of(image) if image is not None else ImageIdentity()
        why = self._direct(finding, today, identity)
        if why is not None:
            return why
        related: tuple[str, ...] = getattr(finding, "related", ())
        if not related or not dataclasses.is_dataclass(finding):
            return None
        reasons: list[str] = []
        for rid in related:
            # The finding as if it were reported under the related id alone.
            as_related = dataclasses.replace(finding, id=rid, aliases=(), related=())  # type: ignore[call-arg]
            why = self._direct(as_related, today, identity)
            if why is None:
                return None  # one related CVE is still open: the advisory stays reported
            reasons.append(f"{rid}: {why}")
        return "every related id suppressed: " + "; ".join(reasons)

    def _direct(self, finding: Finding, today: date, identity: ImageIdentity | None) -> str | None:
        """Why a rule or statement naming ``finding``'s id or an alias suppresses it, or None."""
        for rule in self.rules:
            if rule.matches(finding, today):
                why = f": {rule.reason}" if rule.reason else ""
                return f"ignore-file {rule.source}{why}"
        for statement in self.vex:
            why = statement.suppresses(finding, identity)
            if why is not None:
                return str(why)
        return None


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_FILE:
            raise InputError(f"{path}: larger than 4 MiB; not an ignore file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"ignore file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ignore file {path}: {exc}") from exc


def _parse_date(value: Any, where: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(f"{where}: expiry {value!r} is not a date (YYYY-MM-DD)") from exc


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where}: expected a string or a list of strings")


def parse_ignore_file(path: Path) -> tuple[IgnoreRule, ...]:
    text = _read(path)
    stripped = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if path.suffix in (".yaml", ".yml") or (stripped and stripped[0].rstrip().endswith(":")):
        return _parse_yaml(text, path)
    rules: list[IgnoreRule] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line, _, comment = raw.partition("#")
        parts = line.split()
        if not parts:
            continue
        expires = None
        for extra in parts[1:]:
            m = _EXP_RE.match(extra)
            if not m:
                raise InputError(
                    f"{path}:{lineno}: unexpected {extra!r}; a line is 'ID [exp:YYYY-MM-DD] [# reason]'"
                )
            expires = _parse_date(m.group(1), f"{path}:{lineno}")
        rules.append(IgnoreRule(parts[0], comment.strip(), expires, source=f"{path.name}:{lineno}"))
    return tuple(rules)


def _parse_yaml(text: str, path: Path) -> tuple[IgnoreRule, ...]:
    import yaml  # only when there is an ignore file

    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if doc is None:
        return ()
    entries = doc.get("ignore", doc.get("vulnerabilities")) if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a mapping with an 'ignore' list")
    rules = []
    for i, entry in enumerate(entries):
        where = f"{path}: ignore[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise InputError(f"{where}: each entry needs an 'id' string")
        rules.append(
            IgnoreRule(
                id=entry["id"],
                reason=str(entry.get("reason") or entry.get("statement") or ""),
                expires=_parse_date(entry.get("expires", entry.get("expired_at")), where),
                packages=_str_list(entry.get("packages", entry.get("purls")), where),
                paths=_str_list(entry.get("paths"), where),
                source=f"{path.name}[{i}]",
            )
        )
    return tuple(rules)


def load_suppressions(ignore_files: Sequence[Path], vex_files: Sequence[Path]) -> Suppressions:
    """Ignore rules from the given files (else ``.imgsecignore`` in the current directory) and VEX."""
    files = list(ignore_files) or [Path(p) for p in DEFAULT_IGNORE_FILES if Path(p).is_file()]
    rules: list[IgnoreRule] = []
    for f in files:
        rules.extend(parse_ignore_file(f))
    vex: list[Any] = []
    if vex_files:
        from imgsec.vex import load_vex

        vex.extend(load_vex(vex_files))
    return Suppressions(tuple(rules), tuple(vex))
