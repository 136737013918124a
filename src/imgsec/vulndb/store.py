"""The advisory database: one SQLite file, written by importers, read by matchers.

Writes only ever happen on a private copy that then replaces the live file (``os.replace``), so a
reader never sees a half-built database and the file opened for reading never changes in place.
That is why read connections are ``mode=ro&immutable=1``: no locks, no journal, any number of
concurrent readers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imgsec.errors import InputError

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS schema_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisory (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    summary TEXT,
    published TEXT,
    modified TEXT,
    withdrawn TEXT,
    severity TEXT,          -- a qualitative label from the advisory itself (e.g. GHSA "HIGH")
    urls TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS alias (
    advisory_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'alias',   -- 'alias' (same flaw) or 'related' (ELTS CVE lists)
    PRIMARY KEY (advisory_id, alias, kind)
);
CREATE TABLE IF NOT EXISTS affected (
    advisory_id TEXT NOT NULL,
    source TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,     -- normalised per ecosystem (imgsec.match.names)
    status TEXT NOT NULL,   -- imgsec.findings.FixStatus value
    ranges TEXT NOT NULL DEFAULT '[]',    -- JSON [[{"introduced": "0"}, {"fixed": "1.2"}], ...]
    versions TEXT NOT NULL DEFAULT '[]',  -- JSON explicit affected versions
    urgency TEXT,                         -- Debian tracker urgency, raw
    fixed_hint TEXT                       -- upgrade target named outside the ranges (npm "<=X" advisories)
);
CREATE TABLE IF NOT EXISTS cvss (
    vuln_id TEXT NOT NULL,
    source TEXT NOT NULL,
    version TEXT NOT NULL,
    vector TEXT NOT NULL,
    score REAL
);
CREATE TABLE IF NOT EXISTS kev (vuln_id TEXT PRIMARY KEY, date_added TEXT);
CREATE TABLE IF NOT EXISTS cve_info (vuln_id TEXT PRIMARY KEY, title TEXT, state TEXT);
CREATE TABLE IF NOT EXISTS metadata (
    source TEXT PRIMARY KEY,
    url TEXT,
    sha256 TEXT,
    etag TEXT,
    imported_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    problems TEXT NOT NULL DEFAULT '{}'
);
"""

_INDEXES = """
CREATE INDEX IF NOT EXISTS affected_pkg ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_adv ON affected (advisory_id);
CREATE INDEX IF NOT EXISTS alias_alias ON alias (alias);
CREATE INDEX IF NOT EXISTS cvss_vuln ON cvss (vuln_id);
"""


@dataclass(frozen=True)
class Advisory:
    id: str
    source: str
    summary: str | None = None
    published: str | None = None
    modified: str | None = None
    withdrawn: str | None = None
    severity: str | None = None
    urls: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()


Event = tuple[str, str]  # ("introduced" | "fixed" | "last_affected" | "limit", version)


@dataclass(frozen=True)
class Affected:
    """One (advisory, ecosystem, package) with its ranges; ranges are ordered event lists."""

    advisory_id: str
    source: str
    ecosystem: str
    name: str
    status: str
    ranges: tuple[tuple[Event, ...], ...] = ()
    versions: tuple[str, ...] = ()
    urgency: str | None = None
    fixed_hint: str | None = None


@dataclass(frozen=True)
class CvssRow:
    vuln_id: str
    source: str
    version: str
    vector: str
    score: float | None


@dataclass(frozen=True)
class SourceMeta:
    """What one importer read and what it made of it."""

    source: str
    url: str | None
    sha256: str | None
    etag: str | None
    imported_at: str
    records: int
    skipped: int
    problems: dict[str, int] = field(default_factory=dict)


def _ranges_json(ranges: tuple[tuple[Event, ...], ...]) -> str:
    return json.dumps([[{k: v} for k, v in r] for r in ranges], separators=(",", ":"))


def _ranges_from_json(text: str) -> tuple[tuple[Event, ...], ...]:
    data = json.loads(text)
    return tuple(tuple((k, v) for e in r for k, v in e.items()) for r in data)


class DBWriter:
    """Bulk writer for a database file that nobody reads while it is written.

    ``fast=True`` (a fresh build into a temp file) turns journaling and fsync off: a crash only
    loses the temp file, never the live database.
    """

    _FLUSH = 20_000

    def __init__(self, path: Path, *, fast: bool = True) -> None:
        self.path = path
        self._conn = sqlite3.connect(str(path), isolation_level=None)
        if fast:
            self._conn.execute("PRAGMA journal_mode=OFF")
            self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.executescript(_DDL)
        self._conn.execute("BEGIN")
        self._adv: list[tuple[Any, ...]] = []
        self._alias: list[tuple[str, str, str]] = []
        self._aff: list[tuple[Any, ...]] = []
        self._cvss: list[tuple[Any, ...]] = []
        self._ids: set[str] = {r[0] for r in self._conn.execute("SELECT id FROM advisory")}

    def has_advisory(self, advisory_id: str) -> bool:
        return advisory_id in self._ids

    def delete_advisory(self, advisory_id: str) -> None:
        """Drop an advisory and everything keyed by it (used when ``db import`` replaces one)."""
        self.flush()
        for table, col in (("advisory", "id"), ("alias", "advisory_id")):
            self._conn.execute(f"DELETE FROM {table} WHERE {col} = ?", (advisory_id,))  # noqa: S608
        # Only OSV-shaped rows: a distro tracker's rows for the same CVE id are not this record's.
        self._conn.execute(
            "DELETE FROM affected WHERE advisory_id = ? AND (source LIKE 'osv:%' OR source LIKE 'import:%')",
            (advisory_id,),
        )
        self._conn.execute("DELETE FROM cvss WHERE vuln_id = ? AND source = 'osv'", (advisory_id,))
        self._ids.discard(advisory_id)

    def add_advisory(self, adv: Advisory) -> bool:
        """Add ``adv`` unless an advisory with its id exists; True if added."""
        if adv.id in self._ids:
            return False
        self._ids.add(adv.id)
        self._adv.append(
            (
                adv.id,
                adv.source,
                adv.summary,
                adv.published,
                adv.modified,
                adv.withdrawn,
                adv.severity,
                json.dumps(list(adv.urls)),
            )
        )
        self._alias.extend((adv.id, a, "alias") for a in adv.aliases if a != adv.id)
        self._alias.extend((adv.id, a, "related") for a in adv.related if a != adv.id)
        self._maybe_flush()
        return True

    def add_aliases(self, advisory_id: str, aliases: Iterable[str], kind: str = "alias") -> None:
        """Record more names of an advisory (whichever importer created it)."""
        self._alias.extend((advisory_id, a, kind) for a in aliases if a != advisory_id)

    def add_affected(self, rows: Iterable[Affected]) -> None:
        self._aff.extend(
            (
                r.advisory_id,
                r.source,
                r.ecosystem,
                r.name,
                r.status,
                _ranges_json(r.ranges),
                json.dumps(list(r.versions)),
                r.urgency,
                r.fixed_hint,
            )
            for r in rows
        )
        self._maybe_flush()

    def add_cvss(self, rows: Iterable[CvssRow]) -> None:
        self._cvss.extend((r.vuln_id, r.source, r.version, r.vector, r.score) for r in rows)
        self._maybe_flush()

    def set_kev(self, vuln_id: str, date_added: str | None) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kev VALUES (?, ?)", (vuln_id, date_added))

    def set_cve_info(self, vuln_id: str, title: str | None, state: str | None) -> None:
        self._conn.execute("INSERT OR REPLACE INTO cve_info VALUES (?, ?, ?)", (vuln_id, title, state))

    def set_source(self, meta: SourceMeta) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO metadata VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                meta.source,
                meta.url,
                meta.sha256,
                meta.etag,
                meta.imported_at,
                meta.records,
                meta.skipped,
                json.dumps(meta.problems, sort_keys=True),
            ),
        )

    def _maybe_flush(self) -> None:
        if len(self._adv) + len(self._aff) + len(self._alias) + len(self._cvss) >= self._FLUSH:
            self.flush()

    def flush(self) -> None:
        c = self._conn
        if self._adv:
            c.executemany("INSERT OR IGNORE INTO advisory VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._adv)
        if self._alias:
            c.executemany("INSERT OR IGNORE INTO alias VALUES (?, ?, ?)", self._alias)
        if self._aff:
            c.executemany("INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._aff)
        if self._cvss:
            c.executemany("INSERT INTO cvss VALUES (?, ?, ?, ?, ?)", self._cvss)
        self._adv, self._alias, self._aff, self._cvss = [], [], [], []

    def commit(self, built_at: str) -> None:
        """Flush, index, stamp and commit; the file is then a complete database."""
        self.flush()
        for statement in _INDEXES.split(";"):
            if statement.strip():
                self._conn.execute(statement)
        self._conn.execute(
            "INSERT OR REPLACE INTO schema_info VALUES ('schema_version', ?), ('built_at', ?)",
            (str(SCHEMA_VERSION), built_at),
        )
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class DBStatus:
    path: Path
    schema_version: int
    built_at: str | None
    sources: tuple[SourceMeta, ...]
    counts: dict[str, int]


class VulnDB:
    """Read-only view of a built database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise InputError(f"vulnerability database {path} does not exist; run 'imgsec db update' first")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            row = self._conn.execute("SELECT value FROM schema_info WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"{path} is not an imgsec vulnerability database ({exc}); run 'imgsec db update' to rebuild it"
            ) from exc
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise InputError(
                f"{path} has database schema {row[0] if row else 'unknown'}, this imgsec reads {SCHEMA_VERSION}; "
                "run 'imgsec db update' to rebuild it"
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def affected(self, ecosystem: str, name: str) -> list[Affected]:
        """Every affected entry for a package (``name`` already normalised)."""
        rows = self._conn.execute(
            "SELECT advisory_id, source, ecosystem, name, status, ranges, versions, urgency, fixed_hint "
            "FROM affected WHERE ecosystem = ? AND name = ?",
            (ecosystem, name),
        ).fetchall()
        return [
            Affected(
                r[0], r[1], r[2], r[3], r[4], _ranges_from_json(r[5]), tuple(json.loads(r[6])), r[7], r[8]
            )
            for r in rows
        ]

    def _in(self, sql: str, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            yield from self._conn.execute(sql.format(",".join("?" * len(chunk))), chunk)

    def advisories(self, ids: Sequence[str]) -> dict[str, Advisory]:
        """Advisories by id, with aliases and related ids filled in."""
        out: dict[str, dict[str, Any]] = {}
        for r in self._in(
            "SELECT id, source, summary, published, modified, withdrawn, severity, urls "
            "FROM advisory WHERE id IN ({})",
            ids,
        ):
            out[r[0]] = {
                "id": r[0],
                "source": r[1],
                "summary": r[2],
                "published": r[3],
                "modified": r[4],
                "withdrawn": r[5],
                "severity": r[6],
                "urls": tuple(json.loads(r[7])),
                "aliases": [],
                "related": [],
            }
        for adv_id, alias, kind in self._in(
            "SELECT advisory_id, alias, kind FROM alias WHERE advisory_id IN ({})", list(out)
        ):
            out[adv_id]["aliases" if kind == "alias" else "related"].append(alias)
        return {
            k: Advisory(
                **{**v, "aliases": tuple(sorted(v["aliases"])), "related": tuple(sorted(v["related"]))}
            )
            for k, v in out.items()
        }

    def cvss(self, vuln_ids: Sequence[str]) -> list[CvssRow]:
        return [
            CvssRow(r[0], r[1], r[2], r[3], r[4])
            for r in self._in(
                "SELECT vuln_id, source, version, vector, score FROM cvss WHERE vuln_id IN ({})", vuln_ids
            )
        ]

    def kev(self, vuln_ids: Sequence[str]) -> set[str]:
        return {r[0] for r in self._in("SELECT vuln_id FROM kev WHERE vuln_id IN ({})", vuln_ids)}

    def cve_titles(self, vuln_ids: Sequence[str]) -> dict[str, str]:
        return {
            r[0]: r[1]
            for r in self._in("SELECT vuln_id, title FROM cve_info WHERE vuln_id IN ({})", vuln_ids)
            if r[1]
        }

    def built_at(self) -> datetime | None:
        """When the database was built (UTC), for maximum-age checks; None if unrecorded."""
        row = self._conn.execute("SELECT value FROM schema_info WHERE key = 'built_at'").fetchone()
        try:
            return datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if row else None
        except ValueError:
            return None

    def status(self) -> DBStatus:
        built = self._conn.execute("SELECT value FROM schema_info WHERE key = 'built_at'").fetchone()
        sources = tuple(
            SourceMeta(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
            for r in self._conn.execute(
                "SELECT source, url, sha256, etag, imported_at, records, skipped, problems "
                "FROM metadata ORDER BY source"
            )
        )
        counts = {
            t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
            for t in ("advisory", "alias", "affected", "cvss", "kev")
        }
        return DBStatus(self.path, SCHEMA_VERSION, built[0] if built else None, sources, counts)
