"""OSV records (https://ossf.github.io/osv-schema/), from an osv.dev bucket zip or one JSON file.

Kept: ECOSYSTEM and SEMVER ranges (introduced / fixed / last_affected / limit), explicit
``versions`` lists, aliases, ``related`` (Debian ELTS lists its CVEs there), severity vectors,
references. Dropped: withdrawn records, GIT ranges (commit hashes say nothing about installed
packages). Anything malformed is counted per kind and skipped, never fatal.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imgsec.findings import FixStatus
from imgsec.match.names import normalize_name
from imgsec.match.versions import UnparseableVersion, parser_for
from imgsec.vulndb.importers.base import ImportResult, Problems, iter_zip_json, load_json_file
from imgsec.vulndb.importers.cvss_score import score_vector
from imgsec.vulndb.store import Advisory, Affected, CvssRow, DBWriter, Event

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_MAX_URLS = 10


def import_osv_zip(path: Path, writer: DBWriter, source: str, *, replace: bool = False) -> ImportResult:
    """Import every record of an osv.dev ``all.zip``."""
    problems = Problems(source)
    records = 0
    for member, data in iter_zip_json(path, problems):
        if import_osv_record(data, writer, source, problems, where=member, replace=replace):
            records += 1
    problems.report()
    return ImportResult(source, records, problems.total, dict(problems.counts))


def import_osv_json(path: Path, writer: DBWriter, source: str) -> ImportResult:
    """Import one OSV JSON record (or a JSON list of records); replaces records with the same id."""
    problems = Problems(source)
    data = load_json_file(path)
    items = data if isinstance(data, list) else [data]
    records = sum(
        import_osv_record(item, writer, source, problems, where=str(path), replace=True) for item in items
    )
    problems.report()
    return ImportResult(source, records, problems.total, dict(problems.counts))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def import_osv_record(
    data: Any, writer: DBWriter, source: str, problems: Problems, *, where: str, replace: bool = False
) -> bool:
    """Import one parsed record; True if it was added. Malformed parts are counted in ``problems``."""
    if not isinstance(data, dict) or not _str(data.get("id")):
        problems.add("malformed record (no id)", where)
        return False
    rec_id: str = data["id"]
    if _str(data.get("withdrawn")):
        problems.add("withdrawn", rec_id)
        return False
    affected_raw = data.get("affected")
    if not isinstance(affected_raw, list):
        problems.add("malformed record (affected is not a list)", rec_id)
        return False
    if writer.has_advisory(rec_id):
        if not replace:
            # The same record is in several Debian:N zips (ELTS records naming several releases):
            # it was imported whole the first time.
            return True
        writer.delete_advisory(rec_id)

    db_specific = data.get("database_specific")
    hint = _patched_hint(db_specific)
    affected: list[Affected] = []
    for entry in affected_raw:
        row = _affected(rec_id, entry, source, problems)
        if row is not None:
            if hint is not None and row.status != FixStatus.FIXED:
                row = dataclasses.replace(row, fixed_hint=hint)
            affected.append(row)
    if not affected:
        # Kept (its aliases still name the flaw) but it can match nothing.
        problems.add("no comparable affected range", rec_id, record=False)

    aliases = _str_list(data.get("aliases"))
    related = _str_list(data.get("related"))
    summary = _str(data.get("summary"))
    if summary is None and (details := _str(data.get("details"))):
        summary = details.strip().splitlines()[0][:200] if details.strip() else None
    label = db_specific.get("severity") if isinstance(db_specific, dict) else None
    writer.add_advisory(
        Advisory(
            id=rec_id,
            source=source,
            summary=summary,
            published=_str(data.get("published")),
            modified=_str(data.get("modified")),
            severity=label.upper() if isinstance(label, str) and label else None,
            urls=_urls(data.get("references")),
            aliases=aliases,
            related=related,
        )
    )
    writer.add_affected(affected)
    writer.add_cvss(_severity(rec_id, data.get("severity"), problems))
    return True


_PATCHED = re.compile(r"^\s*>=\s*v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\s*$")


def _patched_hint(db_specific: Any) -> str | None:
    """The upgrade target of an npm advisory whose range ends in ``last_affected``.

    The mirror's npm records keep ``patched_versions`` (e.g. ``">=1.5.2"``) in
    ``database_specific`` only, because a ``fixed`` event there would also cover the target's
    prereleases. A single ``>=X`` is taken as the version to upgrade to; anything more complex
    (unions, upper bounds) is left alone rather than guessed.
    """
    if not isinstance(db_specific, dict):
        return None
    patched = db_specific.get("patched_versions")
    m = _PATCHED.match(patched) if isinstance(patched, str) else None
    return m.group(1) if m else None


def _str_list(value: Any) -> tuple[str, ...]:
    """The non-empty strings of a JSON list; anything else (a bare string, an object) gives ()."""
    return tuple(v for v in value if isinstance(v, str) and v) if isinstance(value, list) else ()


def _urls(refs: Any) -> tuple[str, ...]:
    if not isinstance(refs, list):
        return ()
    good = [r for r in refs if isinstance(r, dict) and _str(r.get("url"))]
    # ADVISORY references first: they are the page a user wants to open.
    good.sort(key=lambda r: 0 if r.get("type") == "ADVISORY" else 1)
    return tuple(r["url"] for r in good[:_MAX_URLS])


def _affected(rec_id: str, entry: Any, source: str, problems: Problems) -> Affected | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("package"), dict):
        problems.add("malformed affected entry", rec_id, record=False)
        return None
    pkg = entry["package"]
    ecosystem, name = _str(pkg.get("ecosystem")), _str(pkg.get("name"))
    if ecosystem is None or name is None:
        problems.add("affected entry without ecosystem or name", rec_id, record=False)
        return None
    parse = parser_for(ecosystem)
    if parse is None:
        problems.add("unknown ecosystem", f"{rec_id}: {ecosystem}", record=False)
        return None
    ranges: list[tuple[Event, ...]] = []
    raw_ranges = entry.get("ranges") or []
    if not isinstance(raw_ranges, list):
        problems.add("malformed ranges", rec_id, record=False)
        return None
    for rng in raw_ranges:
        if not isinstance(rng, dict):
            problems.add("malformed range", rec_id, record=False)
            continue
        if rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT: commit ranges cannot be compared with an installed version
        events = _events(rng.get("events"))
        if events is None:
            problems.add("malformed range events", rec_id, record=False)
            continue
        try:
            for _, version in events:
                if version != "0":
                    parse(version)
        except UnparseableVersion as exc:
            problems.add("unparseable version", f"{rec_id}: {exc}", record=False)
            continue
        ranges.append(events)
    versions = _str_list(entry.get("versions"))
    if not ranges and not versions:
        # Nothing comparable is left (e.g. only GIT ranges): the entry cannot match anything.
        return None
    return Affected(
        advisory_id=rec_id,
        source=source,
        ecosystem=ecosystem,
        name=normalize_name(ecosystem, name),
        status=str(FixStatus.FIXED if _has_fix(ranges) else FixStatus.NOT_FIXED),
        ranges=tuple(ranges),
        versions=versions,
    )


def _has_fix(ranges: Iterable[tuple[Event, ...]]) -> bool:
    return any(kind == "fixed" for r in ranges for kind, _ in r)


def _events(raw: Any) -> tuple[Event, ...] | None:
    if not isinstance(raw, list) or not raw:
        return None
    out: list[Event] = []
    for ev in raw:
        if not isinstance(ev, dict) or len(ev) != 1:
            return None
        ((kind, version),) = ev.items()
        if kind not in _EVENT_KINDS or not isinstance(version, str) or not version:
            return None
        out.append((kind, version))
    return tuple(out)


def _severity(rec_id: str, raw: Any, problems: Problems) -> list[CvssRow]:
    if not isinstance(raw, list):
        return []
    rows: list[CvssRow] = []
    for item in raw:
        if not isinstance(item, dict) or not _str(item.get("score")):
            continue
        kind, vector = item.get("type"), item["score"]
        if kind not in ("CVSS_V2", "CVSS_V3", "CVSS_V4"):
            continue
        scored = score_vector(vector)
        if scored is None:
            problems.add("invalid CVSS vector", f"{rec_id}: {vector}", record=False)
            continue
        version, score = scored
        rows.append(CvssRow(rec_id, "osv", version, vector, score))
    return rows
