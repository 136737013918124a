"""The Debian Security Tracker JSON (https://security-tracker.debian.org/tracker/data/json).

Shape: ``{source_pkg: {CVE: {description?, releases: {codename: {status, fixed_version?, urgency,
nodsa?, nodsa_reason?, repositories}}}}}``. Keyed by *source* package, per release.

The tracker's distinctions are kept, not collapsed (see :class:`imgsec.findings.FixStatus`):

- ``resolved`` with ``fixed_version`` ``"0"``: the release's package was never affected.
- ``resolved`` with a version: fixed in that version.
- ``open``/``undetermined`` with urgency ``end-of-life``: no longer security-supported.
- ``open`` with ``nodsa_reason`` ``ignored``: will not be fixed; ``postponed``: fix deferred;
  ``nodsa`` without a reason: minor issue, no DSA.
- ``open`` otherwise: affected, no fix yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgsec.findings import FixStatus
from imgsec.match.versions import UnparseableVersion, parse_dpkg
from imgsec.vulndb.importers.base import ImportResult, Problems, load_json_file
from imgsec.vulndb.store import Advisory, Affected, DBWriter, Event

SOURCE = "debian-tracker"

#: Debian release codenames -> version numbers (OSV ``Debian:N`` ecosystems).
DEBIAN_RELEASES: dict[str, str] = {
    "buzz": "1.1",
    "rex": "1.2",
    "bo": "1.3",
    "hamm": "2.0",
    "slink": "2.1",
    "potato": "2.2",
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4",
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
}


def release_ecosystem(codename: str) -> str:
    """``bookworm`` -> ``Debian:12``; releases without a number (``sid``) keep their name."""
    return f"Debian:{DEBIAN_RELEASES.get(codename, codename)}"


def classify(entry: dict[str, Any]) -> FixStatus:
    """The tracker's per-release facts -> one FixStatus (see the module docstring)."""
    status = entry.get("status")
    fixed = entry.get("fixed_version")
    urgency = str(entry.get("urgency") or "").rstrip("*")
    if status == "resolved":
        return FixStatus.NOT_AFFECTED if fixed == "0" else FixStatus.FIXED
    if urgency == "end-of-life":
        return FixStatus.END_OF_LIFE
    reason = entry.get("nodsa_reason")
    if reason == "ignored":
        return FixStatus.WILL_NOT_FIX
    if reason == "postponed":
        return FixStatus.POSTPONED
    if entry.get("nodsa"):
        return FixStatus.NO_DSA
    return FixStatus.NOT_FIXED


def import_tracker(path: Path, writer: DBWriter) -> ImportResult:
    problems = Problems(SOURCE)
    data = load_json_file(path)
    if not isinstance(data, dict):
        problems.add("not a tracker document (top level is not an object)", str(path))
        problems.report()
        return ImportResult(SOURCE, 0, 1, dict(problems.counts))
    records = 0
    rows: list[Affected] = []
    for pkg, cves in data.items():
        if not isinstance(pkg, str) or not isinstance(cves, dict):
            problems.add("malformed package entry", str(pkg))
            continue
        for cve, info in cves.items():
            if not isinstance(info, dict) or not isinstance(info.get("releases"), dict):
                problems.add("malformed CVE entry", f"{pkg}/{cve}")
                continue
            added = False
            for codename, rel in info["releases"].items():
                row = _row(pkg, cve, codename, rel, problems)
                if row is not None:
                    rows.append(row)
                    added = True
            if added:
                records += 1
                desc = info.get("description")
                writer.add_advisory(
                    Advisory(
                        id=cve,
                        source=SOURCE,
                        summary=desc[:200] if isinstance(desc, str) and desc else None,
                        urls=(f"https://security-tracker.debian.org/tracker/{cve}",),
                    )
                )
            if len(rows) > 5000:
                writer.add_affected(rows)
                rows = []
    writer.add_affected(rows)
    problems.report()
    return ImportResult(SOURCE, records, problems.total, dict(problems.counts))


def _row(pkg: str, cve: str, codename: str, rel: Any, problems: Problems) -> Affected | None:
    if not isinstance(rel, dict):
        problems.add("malformed release entry", f"{pkg}/{cve}/{codename}", record=False)
        return None
    status = classify(rel)
    fixed = rel.get("fixed_version")
    ranges: tuple[tuple[Event, ...], ...]
    if status is FixStatus.NOT_AFFECTED:
        ranges = ()
    elif status is FixStatus.FIXED:
        if not isinstance(fixed, str) or not fixed:
            problems.add("resolved without fixed_version", f"{pkg}/{cve}/{codename}", record=False)
            return None
        try:
            parse_dpkg(fixed)
        except UnparseableVersion as exc:
            problems.add("unparseable version", f"{pkg}/{cve}/{codename}: {exc}", record=False)
            return None
        ranges = ((("introduced", "0"), ("fixed", fixed)),)
    else:
        ranges = ((("introduced", "0"),),)
    urgency = rel.get("urgency")
    return Affected(
        advisory_id=cve,
        source=SOURCE,
        ecosystem=release_ecosystem(codename),
        name=pkg,
        status=str(status),
        ranges=ranges,
        urgency=urgency if isinstance(urgency, str) else None,
    )
