"""Alpine secdb documents (``secdb.alpinelinux.org/vX.Y/{main,community}.json``).

``packages[].pkg.secfixes`` maps a fixed version to the ids it fixes; version ``"0"`` means the
package was never affected (Alpine's convention). Keyed by origin (source) package, per branch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from imgsec.findings import FixStatus
from imgsec.match.versions import UnparseableVersion, parse_apk
from imgsec.vulndb.importers.base import ImportResult, Problems, load_json_file
from imgsec.vulndb.store import Advisory, Affected, DBWriter

SOURCE = "alpine-secdb"
_BRANCH = re.compile(r"^v\d+\.\d+$|^edge$")
_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9A-Za-z-]+$")


def parse_fix_entry(entry: object) -> tuple[str, tuple[str, ...]] | None:
    """``"CVE-2016-10013 XSA-204"`` -> ("CVE-2016-10013", ("XSA-204",)): one flaw, its ids.

    The first id names the flaw; further ids on the same line are the same flaw under another
    tracker's name (Xen XSA, Zabbix ZBX, Talos). ``"CVE 2018-16859"`` (a typo upstream) is read
    as the CVE it means, and ``CVE-2017-17434-1`` (one of a fix in parts) as that CVE. Anything
    else (comments) is ignored.
    """
    text = re.sub(r"\bCVE (\d{4}-\d+)", r"CVE-\1", str(entry or ""))
    ids = [re.sub(r"^(CVE-\d{4}-\d{4,})-\d+$", r"\1", tok) for tok in text.split() if _ID.match(tok)]
    if not ids:
        return None
    return ids[0], tuple(dict.fromkeys(i for i in ids[1:] if i != ids[0]))


def import_secdb(path: Path, writer: DBWriter, source: str = SOURCE) -> ImportResult:
    data = load_json_file(path)
    return import_secdb_document(data, writer, where=str(path), source=source)


def import_secdb_document(data: Any, writer: DBWriter, *, where: str, source: str = SOURCE) -> ImportResult:
    """Import one parsed secdb document (``packages: null`` is an empty branch, as upstream has)."""
    problems = Problems(source)
    branch = data.get("distroversion") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("packages") is None:
        data = {**data, "packages": []}
    if not isinstance(branch, str) or not _BRANCH.match(branch) or not isinstance(data.get("packages"), list):
        problems.add("not a secdb document (no distroversion vX.Y or packages list)", where)
        problems.report()
        return ImportResult(source, 0, 1, dict(problems.counts))
    ecosystem = f"Alpine:{branch}"
    rows: list[Affected] = []
    ids: set[str] = set()
    for item in data["packages"]:
        pkg = item.get("pkg") if isinstance(item, dict) else None
        name = pkg.get("name") if isinstance(pkg, dict) else None
        fixes = pkg.get("secfixes") if isinstance(pkg, dict) else None
        if not isinstance(name, str) or not name or not isinstance(fixes, dict):
            problems.add("malformed package entry", f"{where}: {str(item)[:80]}")
            continue
        for version, names in fixes.items():
            if not isinstance(names, list):
                problems.add("malformed secfixes entry", f"{name} {version}", record=False)
                continue
            never = version == "0"
            if not never:
                try:
                    parse_apk(str(version))
                except UnparseableVersion as exc:
                    problems.add("unparseable version", f"{name}: {exc}", record=False)
                    continue
            for entry in names:
                parsed = parse_fix_entry(entry)
                if parsed is None:
                    continue
                vid, aliases = parsed
                ids.add(vid)
                if aliases:
                    writer.add_aliases(vid, aliases)
                rows.append(
                    Affected(
                        advisory_id=vid,
                        source=source,
                        ecosystem=ecosystem,
                        name=name,
                        status=str(FixStatus.NOT_AFFECTED if never else FixStatus.FIXED),
                        ranges=() if never else ((("introduced", "0"), ("fixed", str(version))),),
                    )
                )
    for vid in sorted(ids):
        writer.add_advisory(Advisory(id=vid, source=SOURCE))
    writer.add_affected(rows)
    problems.report()
    return ImportResult(source, len(rows), problems.total, dict(problems.counts))
