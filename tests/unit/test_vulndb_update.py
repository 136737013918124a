"""Database update: directory and http(s) mirrors, atomic replacement, concurrent readers, import."""

from __future__ import annotations

import hashlib
import http.server
import json
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from imgsec.config import Config, load_config_file
from imgsec.errors import ExternalError, InputError, UsageError
from imgsec.vulndb.paths import db_path
from imgsec.vulndb.store import VulnDB
from imgsec.vulndb.update import build_database, import_file, resolve_mirror


def osv(vid: str, eco: str, name: str, fixed: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
        **extra,
    }


def make_mirror(root: Path, records: list[dict[str, Any]], cve_members: int = 0) -> Path:
    (root / "osv" / "PyPI").mkdir(parents=True)
    with zipfile.ZipFile(root / "osv" / "PyPI" / "all.zip", "w") as zf:
        for r in records:
            zf.writestr(f"{r['id']}.json", json.dumps(r))
    if cve_members:
        (root / "cve").mkdir()
        with zipfile.ZipFile(root / "cve" / "records.zip", "w") as zf:
            for i in range(cve_members):
                cid = f"CVE-2099-{1000 + i}"
                zf.writestr(
                    f"{cid}.json",
                    json.dumps(
                        {
                            "dataType": "CVE_RECORD",
                            "cveMetadata": {"cveId": cid, "state": "PUBLISHED"},
                            # incompressible padding so the download is large enough to cut
                            "containers": {"cna": {"title": hashlib.sha256(cid.encode()).hexdigest() * 40}},
                        }
                    ),
                )
    return root


class _Handler(http.server.SimpleHTTPRequestHandler):
    cut: str | None = None  # path whose body is cut off halfway

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("ETag", '"etag-' + self.path.strip("/").replace("/", "-") + '"')
        super().end_headers()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        if self.cut and self.path.endswith(self.cut):
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            outputfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        super().copyfile(source, outputfile)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(directory: Path, cut: str | None = None) -> str:
        handler = type("H", (_Handler,), {"cut": cut})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def status(path: Path) -> Any:
    with VulnDB(path) as db:
        return db.status()


def test_http_mirror_gives_the_same_database_as_the_directory(tmp_path: Path, serve: Any) -> None:
    mirror = make_mirror(
        tmp_path / "m", [osv("PYSEC-1", "PyPI", "a", "1.0"), osv("PYSEC-2", "PyPI", "b", "2.0")], 3
    )
    url = serve(mirror)
    build_database(str(mirror), tmp_path / "dir.db")
    build_database(url, tmp_path / "http.db")
    from_dir, from_http = status(tmp_path / "dir.db"), status(tmp_path / "http.db")
    assert from_dir.counts == from_http.counts
    assert [(s.source, s.records, s.sha256) for s in from_dir.sources] == [
        (s.source, s.records, s.sha256) for s in from_http.sources
    ]
    meta = {s.source: s for s in from_http.sources}["osv:PyPI"]
    assert meta.sha256 == hashlib.sha256((mirror / "osv" / "PyPI" / "all.zip").read_bytes()).hexdigest()
    assert meta.etag == '"etag-osv-PyPI-all.zip"'
    assert meta.url == f"{url}/osv/PyPI/all.zip"


def test_interrupted_update_keeps_the_previous_database(tmp_path: Path, serve: Any) -> None:
    dest = tmp_path / "cache" / "db" / "imgsec.db"
    build_database(str(make_mirror(tmp_path / "old", [osv("PYSEC-1", "PyPI", "a", "1.0")])), dest)
    before = status(dest)
    new = make_mirror(tmp_path / "new", [osv("PYSEC-2", "PyPI", "b", "2.0")], cve_members=400)
    url = serve(new, cut="records.zip")  # the connection drops halfway through the last file
    with pytest.raises(ExternalError, match="unreachable"):
        build_database(url, dest)
    after = status(dest)
    assert after.built_at == before.built_at and after.counts == before.counts
    with VulnDB(dest) as db:
        assert [a.advisory_id for a in db.affected("PyPI", "a")] == ["PYSEC-1"]
    # no temp files or downloads left, only the writers' lock file
    assert sorted(p.name for p in dest.parent.iterdir()) == [".imgsec.db.lock", "imgsec.db"]


def test_readers_keep_their_snapshot_during_an_update(tmp_path: Path) -> None:
    dest = tmp_path / "imgsec.db"
    build_database(str(make_mirror(tmp_path / "old", [osv("PYSEC-1", "PyPI", "a", "1.0")])), dest)
    reader = VulnDB(dest)
    try:
        build_database(str(make_mirror(tmp_path / "new", [osv("PYSEC-2", "PyPI", "a", "2.0")])), dest)
        # The open reader still sees the file it opened; a new reader sees the new one.
        assert [a.advisory_id for a in reader.affected("PyPI", "a")] == ["PYSEC-1"]
        with VulnDB(dest) as fresh:
            assert [a.advisory_id for a in fresh.affected("PyPI", "a")] == ["PYSEC-2"]
    finally:
        reader.close()


def test_read_connections_are_read_only(tmp_path: Path) -> None:
    dest = tmp_path / "imgsec.db"
    build_database(str(make_mirror(tmp_path / "m", [osv("PYSEC-1", "PyPI", "a", "1.0")])), dest)
    with VulnDB(dest) as db, pytest.raises(sqlite3.OperationalError):
        db._conn.execute("DELETE FROM advisory")


def test_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="imgsec db update"):
        VulnDB(tmp_path / "nope.db")
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(InputError, match="imgsec db update"):
        VulnDB(tmp_path / "junk.db")


def test_import_files_of_each_kind(tmp_path: Path) -> None:
    dest = tmp_path / "db" / "imgsec.db"
    one = tmp_path / "one.json"
    one.write_text(json.dumps(osv("GHSA-1", "npm", "left-pad", "1.0.0", summary="first")))
    meta = import_file(one, dest)  # creates the database
    assert (meta.source, meta.records) == ("import:one.json", 1)
    # The same id again replaces the record rather than adding a second one.
    one.write_text(json.dumps(osv("GHSA-1", "npm", "left-pad", "1.0.1", summary="second")))
    import_file(one, dest)
    with VulnDB(dest) as db:
        [aff] = db.affected("npm", "left-pad")
        assert aff.ranges == ((("introduced", "0"), ("fixed", "1.0.1")),)
        assert db.advisories(["GHSA-1"])["GHSA-1"].summary == "second"

    tracker = tmp_path / "tracker.json"
    tracker.write_text(
        json.dumps({"zlib": {"CVE-2099-5": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}})
    )
    secdb = tmp_path / "main.json"
    secdb.write_text(
        json.dumps(
            {
                "distroversion": "v3.19",
                "packages": [{"pkg": {"name": "zlib", "secfixes": {"1.3-r1": ["CVE-2099-6"]}}}],
            }
        )
    )
    cve = tmp_path / "CVE-2099-5.json"
    cve.write_text(
        json.dumps(
            {
                "dataType": "CVE_RECORD",
                "cveMetadata": {"cveId": "CVE-2099-5"},
                "containers": {
                    "cna": {
                        "metrics": [
                            {
                                "cvssV3_1": {
                                    "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                    "baseScore": 9.8,
                                }
                            }
                        ]
                    }
                },
            }
        )
    )
    for f in (tracker, secdb, cve):
        import_file(f, dest)
    with VulnDB(dest) as db:
        assert [a.status for a in db.affected("Debian:12", "zlib")] == ["not-fixed"]
        assert [a.advisory_id for a in db.affected("Alpine:v3.19", "zlib")] == ["CVE-2099-6"]
        assert [(c.vuln_id, c.score) for c in db.cvss(["CVE-2099-5"])] == [("CVE-2099-5", 9.8)]
        assert {s.source for s in db.status().sources} == {
            "import:one.json",
            "import:tracker.json",
            "import:main.json",
            "import:CVE-2099-5.json",
        }


def test_failed_import_leaves_the_database_unchanged(tmp_path: Path) -> None:
    dest = tmp_path / "imgsec.db"
    build_database(str(make_mirror(tmp_path / "m", [osv("PYSEC-1", "PyPI", "a", "1.0")])), dest)
    before = dest.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text("{ this is not json")
    with pytest.raises(InputError, match="not valid JSON"):
        import_file(bad, dest)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([1, 2, 3]))
    import_file(odd, dest)  # a list of non-records: every item counted as malformed, nothing added
    with VulnDB(dest) as db:
        assert [s.problems for s in db.status().sources if s.source == "import:odd.json"] == [
            {"malformed record (no id)": 3}
        ]
    garbage = tmp_path / "g.zip"
    garbage.write_bytes(b"garbage")
    with pytest.raises(InputError, match="zip"):
        import_file(garbage, dest)
    with pytest.raises(InputError, match="no such file"):
        import_file(tmp_path / "missing.json", dest)
    assert dest.read_bytes() != before  # odd.json was imported (as a source with problems)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".imgsec.db.lock"]


def test_mirror_and_path_resolution(tmp_path: Path) -> None:
    conf_file = tmp_path / "imgsec.yaml"
    conf_file.write_text("db-mirror: /from/file\n")
    cfg = Config(file={"db_mirror": "/from/file"}, env={"IMGSEC_DB_MIRROR": "/from/env"})
    assert resolve_mirror(cfg, "/from/flag") == "/from/flag"
    assert resolve_mirror(cfg, None) == "/from/env"
    assert resolve_mirror(Config(file=load_config_file(conf_file), env={}), None) == "/from/file"
    with pytest.raises(UsageError, match="IMGSEC_DB_MIRROR"):
        resolve_mirror(Config(file={}, env={}), None)
    assert db_path(Config(file={}, env={"IMGSEC_CACHE_DIR": str(tmp_path)})) == tmp_path / "db" / "imgsec.db"


def test_mirror_that_is_neither_directory_nor_url(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        build_database(str(tmp_path / "nowhere"), tmp_path / "imgsec.db")
    assert not (tmp_path / "imgsec.db").exists()


def test_unreachable_http_mirror_is_an_external_error(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ExternalError):
        build_database(f"http://127.0.0.1:{port}", tmp_path / "imgsec.db")


def test_concurrent_writers_do_not_lose_updates(tmp_path: Path) -> None:
    """Imports racing each other (and an update) all land: writers serialise on a lock."""
    dest = tmp_path / "imgsec.db"
    build_database(str(make_mirror(tmp_path / "m", [osv("PYSEC-0", "PyPI", "base", "1.0")])), dest)
    files = []
    for i in range(6):
        f = tmp_path / f"rec{i}.json"
        f.write_text(json.dumps(osv(f"GHSA-{i}", "npm", f"pkg{i}", "1.0.0")))
        files.append(f)
    errors: list[BaseException] = []

    def worker(f: Path) -> None:
        try:
            import_file(f, dest)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with VulnDB(dest) as db:
        assert all(db.affected("npm", f"pkg{i}") for i in range(6))
        assert db.affected("PyPI", "base")


def test_replacing_an_osv_record_keeps_distro_rows_of_the_same_id(tmp_path: Path) -> None:
    dest = tmp_path / "imgsec.db"
    tracker = tmp_path / "tracker.json"
    tracker.write_text(json.dumps({"zlib": {"CVE-2099-7": {"releases": {"bookworm": {"status": "open"}}}}}))
    import_file(tracker, dest)
    record = tmp_path / "CVE-2099-7.json"
    for fixed in ("1.0", "1.1"):  # imported twice: the second replaces the first
        record.write_text(json.dumps(osv("CVE-2099-7", "PyPI", "zlib-py", fixed)))
        import_file(record, dest)
    with VulnDB(dest) as db:
        assert [a.status for a in db.affected("Debian:12", "zlib")] == ["not-fixed"]
        [aff] = db.affected("PyPI", "zlib-py")
        assert aff.ranges == ((("introduced", "0"), ("fixed", "1.1")),)
