"""Build the database from a mirror (a directory or an http(s) base URL), atomically.

Mirror layout (the osv.dev bucket plus siblings; ``../shared/vulndata`` is one)::

    osv/<Ecosystem>/all.zip        OSV records
    debian/tracker.json            Debian Security Tracker JSON
    alpine/vX.Y/{main,community}.json  Alpine secdb
    cve/records.zip                CVE JSON 5 records (severity enrichment)

The new database is built in a temp file beside the live one and moved over it with
``os.replace``: readers that opened the old file keep reading it, and an interrupted update leaves
the old database in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from imgsec.config import Config
from imgsec.errors import ExternalError, InputError, UsageError
from imgsec.vulndb.importers.alpine_secdb import import_secdb, import_secdb_document
from imgsec.vulndb.importers.base import ImportResult, load_json_file
from imgsec.vulndb.importers.cve5 import import_cve_json, import_cve_zip, is_cve_record
from imgsec.vulndb.importers.debian_tracker import import_tracker
from imgsec.vulndb.importers.osv import import_osv_json, import_osv_zip
from imgsec.vulndb.store import DBWriter, SourceMeta

log = logging.getLogger("imgsec.vulndb")

#: Ecosystems tried on an http(s) mirror, which cannot be listed (a directory mirror is listed).
DEFAULT_OSV_ECOSYSTEMS = (
    "PyPI",
    "npm",
    "Go",
    "crates.io",
    "RubyGems",
    "Maven",
    "NuGet",
    "Packagist",
    *(f"Debian:{n}" for n in range(7, 14)),
    "Debian",
    *(f"Alpine:v3.{n}" for n in range(2, 23)),
    "Alpine",
)
DEFAULT_ALPINE_BRANCHES = (*(f"v3.{n}" for n in range(2, 23)), "edge")
MAX_DOWNLOAD = 2 * 1024 * 1024 * 1024
_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


def resolve_mirror(config: Config, flag: str | None) -> str:
    """``--mirror`` > ``IMGSEC_DB_MIRROR`` > ``db-mirror`` in imgsec.yaml; no built-in default."""
    mirror = config.get("db-mirror", flag, "", str, section="db")
    if not mirror:
        raise UsageError(
            "no vulnerability data mirror configured: pass --mirror URL|DIR, set IMGSEC_DB_MIRROR, "
            "or put 'db-mirror: ...' in imgsec.yaml"
        )
    return mirror


@dataclass(frozen=True)
class Fetched:
    path: Path
    url: str
    sha256: str
    etag: str | None


class Mirror:
    """Reads mirror files from a directory or an http(s) base URL into local files."""

    def __init__(self, location: str, workdir: Path) -> None:
        self.location = location
        self.workdir = workdir
        self.is_http = location.startswith(("http://", "https://"))
        self._client: httpx.Client | None = None
        if not self.is_http:
            self.root = Path(location.removeprefix("file://"))
            if not self.root.is_dir():
                raise InputError(f"mirror {location} is not a directory or an http(s) URL")
        else:
            self._client = httpx.Client(timeout=_TIMEOUT, follow_redirects=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def osv_ecosystems(self) -> list[str]:
        if not self.is_http:
            return sorted(p.parent.name for p in (self.root / "osv").glob("*/all.zip"))
        listed = self.fetch("osv/ecosystems.txt")
        if listed is not None:
            text = listed.path.read_text(encoding="utf-8", errors="replace")
            return [line.strip() for line in text.splitlines() if line.strip()]
        return list(DEFAULT_OSV_ECOSYSTEMS)

    def alpine_documents(self) -> list[str]:
        if not self.is_http:
            return sorted(str(p.relative_to(self.root)) for p in (self.root / "alpine").glob("*/*.json"))
        return [f"alpine/{b}/{r}.json" for b in DEFAULT_ALPINE_BRANCHES for r in ("main", "community")]

    def fetch(self, rel: str) -> Fetched | None:
        """The file at ``rel``, or None if the mirror does not have it."""
        if not self.is_http:
            path = self.root / rel
            if not path.is_file():
                return None
            return Fetched(path, str(path), _sha256_file(path), None)
        assert self._client is not None
        url = self.location.rstrip("/") + "/" + quote(rel)
        fd, tmp = tempfile.mkstemp(dir=self.workdir, prefix="dl-")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, self._client.stream("GET", url) as resp:
                if resp.status_code == 404:
                    return None
                if resp.status_code >= 400:
                    raise ExternalError(
                        f"mirror {url}: HTTP {resp.status_code}; check the mirror URL or retry later"
                    )
                size = 0
                for chunk in resp.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise InputError(f"mirror {url}: larger than {MAX_DOWNLOAD} bytes; refusing it")
                    digest.update(chunk)
                    out.write(chunk)
                etag = resp.headers.get("etag")
        except httpx.HTTPError as exc:
            raise ExternalError(
                f"mirror {url} unreachable ({exc}); check the network or the mirror URL"
            ) from exc
        return Fetched(Path(tmp), url, digest.hexdigest(), etag)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class BuildReport:
    path: Path
    sources: tuple[SourceMeta, ...]
    seconds: float


def _record(
    writer: DBWriter,
    fetched: Fetched,
    source: str,
    run: Callable[[], ImportResult],
    out: list[SourceMeta],
) -> None:
    """Run one importer; an unreadable input is recorded as a skipped source, not an abort."""
    try:
        result = run()
        meta = SourceMeta(
            source,
            fetched.url,
            fetched.sha256,
            fetched.etag,
            _now(),
            result.records,
            result.skipped,
            result.problems,
        )
    except InputError as exc:
        log.warning("%s: skipped the whole source: %s", source, exc)
        meta = SourceMeta(
            source, fetched.url, fetched.sha256, fetched.etag, _now(), 0, 1, {"unreadable input": 1}
        )
    writer.set_source(meta)
    out.append(meta)


@contextmanager
def _replacing(dest: Path) -> Iterator[Path]:
    """A temp path beside ``dest`` that replaces ``dest`` if the block succeeds, else vanishes.

    Writers (update, import) take an exclusive lock on ``.<name>.lock`` for the whole block, so
    an import that copies the live database cannot lose an update that finished meanwhile.
    Readers never lock: they open whichever complete file ``dest`` names.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (dest.parent / f".{dest.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}-journal").unlink(missing_ok=True)


def build_database(mirror_location: str, dest: Path) -> BuildReport:
    """Build a fresh database from ``mirror_location`` and atomically replace ``dest`` with it."""
    start = time.perf_counter()
    sources: list[SourceMeta] = []
    with _replacing(dest) as tmp, tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dl-") as work:
        tmp.unlink()
        mirror = Mirror(mirror_location, Path(work))
        writer = DBWriter(tmp, fast=True)
        try:
            for eco in mirror.osv_ecosystems():
                fetched = mirror.fetch(f"osv/{eco}/all.zip")
                if fetched is None:
                    continue
                _record(writer, fetched, f"osv:{eco}", _bind_osv(fetched.path, writer, f"osv:{eco}"), sources)
            tracker = mirror.fetch("debian/tracker.json")
            if tracker is not None:
                _record(
                    writer, tracker, "debian-tracker", lambda: import_tracker(tracker.path, writer), sources
                )
            for rel in mirror.alpine_documents():
                doc = mirror.fetch(rel)
                if doc is None:
                    continue
                name = "alpine:" + rel.removeprefix("alpine/").removesuffix(".json")
                _record(writer, doc, name, _bind_secdb(doc.path, writer, name), sources)
            cve = mirror.fetch("cve/records.zip")
            if cve is not None:
                _record(writer, cve, "cve", lambda: import_cve_zip(cve.path, writer), sources)
            if not sources:
                raise InputError(
                    f"mirror {mirror_location} holds none of osv/*/all.zip, debian/tracker.json, "
                    "alpine/*/*.json, cve/records.zip; check the mirror location"
                )
            writer.commit(_now())
        finally:
            writer.close()
            mirror.close()
    return BuildReport(dest, tuple(sources), time.perf_counter() - start)


def _bind_osv(path: Path, writer: DBWriter, source: str) -> Callable[[], ImportResult]:
    return lambda: import_osv_zip(path, writer, source)


def _bind_secdb(path: Path, writer: DBWriter, source: str) -> Callable[[], ImportResult]:
    return lambda: import_secdb(path, writer, source)


def detect_kind(path: Path) -> str:
    """Which importer reads ``path``: ``osv-zip``, ``cve-zip``, ``osv``, ``cve``, ``tracker``, ``secdb``."""
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith(".json")]
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path} is not a readable zip archive ({exc})") from exc
        if names and all(Path(n).name.startswith("CVE-") for n in names[:50]):
            return "cve-zip"
        return "osv-zip"
    data = load_json_file(path)
    if is_cve_record(data):
        return "cve"
    if isinstance(data, dict) and "distroversion" in data and "packages" in data:
        return "secdb"
    if isinstance(data, list) or (
        isinstance(data, dict) and "id" in data and ("affected" in data or "modified" in data)
    ):
        return "osv"
    if isinstance(data, dict) and all(isinstance(v, dict) for v in list(data.values())[:20]):
        return "tracker"
    raise InputError(
        f"{path}: not an OSV record or zip, Debian tracker JSON, Alpine secdb JSON or CVE JSON 5 record"
    )


def import_file(path: Path, dest: Path) -> SourceMeta:
    """Add one file to the database at ``dest`` (created if missing), atomically."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = detect_kind(path)
    with _replacing(dest) as tmp:
        if dest.is_file():
            shutil.copyfile(dest, tmp)
        else:
            tmp.unlink()
        writer = DBWriter(tmp, fast=True)
        fetched = Fetched(path, str(path.resolve()), _sha256_file(path), None)
        source = f"import:{path.name}"
        try:
            runners: dict[str, Callable[[], ImportResult]] = {
                "osv-zip": lambda: import_osv_zip(path, writer, source, replace=True),
                "osv": lambda: import_osv_json(path, writer, source),
                "cve-zip": lambda: import_cve_zip(path, writer),
                "cve": lambda: import_cve_json(path, writer),
                "tracker": lambda: import_tracker(path, writer),
                "secdb": lambda: import_secdb_document(load_json_file(path), writer, where=str(path)),
            }
            result = runners[kind]()
            meta = SourceMeta(
                source,
                fetched.url,
                fetched.sha256,
                None,
                _now(),
                result.records,
                result.skipped,
                result.problems,
            )
            writer.set_source(meta)
            writer.commit(_now())
        finally:
            writer.close()
    return meta
