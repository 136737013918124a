"""Importers on the real offline mirror (counts from its README / build-stats.json) and on
hand-written records for the shapes the mirror lacks, including malformed input."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsec.vulndb.store import VulnDB
from imgsec.vulndb.update import build_database
from tests.unit.vulndbhelp import VULNDATA, real_db_path

needs_mirror = pytest.mark.skipif(not VULNDATA.is_dir(), reason=f"offline mirror {VULNDATA} not present")


@pytest.fixture(scope="module")
def real_db() -> Path:
    return real_db_path()


def sources(path: Path) -> dict[str, Any]:
    with VulnDB(path) as db:
        return {s.source: s for s in db.status().sources}


def query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# --- the real mirror ---------------------------------------------------------------------------

# (records, withdrawn) per OSV ecosystem, from the mirror README's table.
README_OSV = {
    "PyPI": (7080, 269),
    "Go": (4291, 17),
    "crates.io": (1206, 13),
    "npm": (467, 0),
    "RubyGems": (809, 0),
    "Debian:7": (226, 0),
    "Debian:8": (781, 0),
    "Debian:9": (823, 0),
    "Debian:10": (503, 0),
}


@needs_mirror
def test_osv_counts_match_the_mirror_readme(real_db: Path) -> None:
    stats = json.loads((VULNDATA / "build-stats.json").read_text())
    src = sources(real_db)
    for eco, (records, withdrawn) in README_OSV.items():
        assert stats["ecosystems"][eco]["records"] == records
        meta = src[f"osv:{eco}"]
        assert meta.records == records - withdrawn, eco
        assert meta.problems.get("withdrawn", 0) == withdrawn, eco
        assert meta.skipped == withdrawn, eco


@needs_mirror
def test_withdrawn_records_are_not_in_the_database(real_db: Path) -> None:
    withdrawn = []
    with zipfile.ZipFile(VULNDATA / "osv" / "Go" / "all.zip") as zf:
        for name in zf.namelist():
            if json.loads(zf.read(name)).get("withdrawn"):
                withdrawn.append(name.removesuffix(".json"))
    assert len(withdrawn) == 17
    rows = query(
        real_db, f"SELECT id FROM advisory WHERE id IN ({','.join('?' * len(withdrawn))})", *withdrawn
    )
    assert rows == []


@needs_mirror
def test_debian_tracker_pairs_and_packages(real_db: Path) -> None:
    # README: 3,752 package/CVE pairs, 143 source packages, all bookworm, all resolved with a version.
    assert sources(real_db)["debian-tracker"].records == 3752
    rows = query(
        real_db,
        "SELECT count(*), count(DISTINCT name), count(DISTINCT advisory_id) FROM affected "
        "WHERE source = 'debian-tracker' AND ecosystem = 'Debian:12' AND status = 'fixed'",
    )
    assert rows == [(3752, 143, 3744)]


@needs_mirror
def test_elts_records_in_several_releases_are_imported_once_per_release(real_db: Path) -> None:
    # ELA-1126-1 names Debian 8, 9 and 10 and sits in each of those zips: its affected entries
    # must be stored once each, not once per zip.
    zips = [
        eco
        for eco in ("Debian:8", "Debian:9", "Debian:10")
        if "ELA-1126-1.json" in zipfile.ZipFile(VULNDATA / "osv" / eco / "all.zip").namelist()
    ]
    assert len(zips) == 3
    record = json.loads(zipfile.ZipFile(VULNDATA / "osv" / "Debian:10" / "all.zip").read("ELA-1126-1.json"))
    expected = sorted((a["package"]["ecosystem"], a["package"]["name"]) for a in record["affected"])
    rows = query(real_db, "SELECT ecosystem, name FROM affected WHERE advisory_id = 'ELA-1126-1'")
    assert sorted(rows) == expected
    # ELTS names its CVEs in "related", kept apart from aliases so they are never merged.
    related = query(
        real_db, "SELECT count(*) FROM alias WHERE advisory_id = 'ELA-1126-1' AND kind = 'related'"
    )
    assert related[0][0] >= 1


@needs_mirror
def test_cve_records_give_cvss_and_kev(real_db: Path) -> None:
    # README: 3,161 CVE records, 1,736 of them with CVSS metrics (by the CNA or CISA-ADP).
    assert sources(real_db)["cve"].records == 3161
    with_cvss = query(real_db, "SELECT count(DISTINCT vuln_id) FROM cvss WHERE source LIKE 'cve:%'")
    assert with_cvss[0][0] == 1736
    # CVE-2016-3427 (Java JMX) carries CISA's KEV mark and its ADP CVSS 3.1 score of 9.8.
    assert query(real_db, "SELECT date_added FROM kev WHERE vuln_id = 'CVE-2016-3427'") == [("2023-05-12",)]
    assert ("cve:CISA-ADP", "3.1", 9.8) in query(
        real_db, "SELECT source, version, score FROM cvss WHERE vuln_id = 'CVE-2016-3427'"
    )


@needs_mirror
def test_alpine_branches_and_never_affected(real_db: Path) -> None:
    ecosystems = {
        r[0] for r in query(real_db, "SELECT DISTINCT ecosystem FROM affected WHERE source LIKE 'alpine:%'")
    }
    # 9 branches have data (v3.3 ... v3.11; v3.3/community is an empty document).
    assert ecosystems == {f"Alpine:v3.{n}" for n in range(3, 12)}
    # README: 2,443 distinct CVEs in the secdb documents. Each is imported unless every version
    # naming it is one apk's grammar rejects (a handful, like "4.8.0.-r1").
    raw: set[str] = set()
    for doc in VULNDATA.glob("alpine/*/*.json"):
        for item in json.loads(doc.read_text()).get("packages") or []:
            for ids in (item["pkg"].get("secfixes") or {}).values():
                raw.update(m for i in ids or () for m in re.findall(r"CVE-\d{4}-\d+", str(i)))
    assert len(raw) == 2443
    raw.add("CVE-2018-16859")  # written "CVE 2018-16859" upstream, not counted by the README
    got = {r[0] for r in query(real_db, "SELECT advisory_id FROM affected WHERE source LIKE 'alpine:%'")}
    cves = {i for i in got if i.startswith("CVE-")}
    assert cves <= raw
    assert len(cves) >= 2443 - 10
    assert "CVE-2018-16859" in cves
    # Xen's XSA ids written beside their CVE are aliases of it, not separate findings.
    assert "XSA-204" not in got
    assert query(real_db, "SELECT alias FROM alias WHERE advisory_id = 'CVE-2016-10013'") == [("XSA-204",)]
    # secfixes "0" means never affected: stored with that status and no ranges.
    zero = query(
        real_db, "SELECT count(*) FROM affected WHERE source LIKE 'alpine:%' AND status = 'not-affected'"
    )
    assert zero[0][0] > 0


@needs_mirror
# --- hand-written records ----------------------------------------------------------------------


def osv_zip(path: Path, records: dict[str, Any | bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, rec in records.items():
            zf.writestr(name, rec if isinstance(rec, bytes) else json.dumps(rec))


def rec(vid: str, eco: str, name: str, events: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
        ],
        **extra,
    }


def test_malformed_members_are_counted_and_skipped(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    good = rec("PYSEC-0000-1", "PyPI", "Good_Pkg", [{"introduced": "0"}, {"fixed": "1.0"}])
    osv_zip(
        mirror / "osv" / "PyPI" / "all.zip",
        {
            "PYSEC-0000-1.json": good,
            "BAD-JSON.json": b"{not json",
            "NO-ID.json": {"affected": []},
            "UNKNOWN-ECO.json": rec("X-1", "NoSuchEcosystem", "p", [{"introduced": "0"}]),
            "BAD-VERSION.json": rec("X-2", "PyPI", "p", [{"introduced": "0"}, {"fixed": "not a version!"}]),
            "GIT-ONLY.json": {
                "id": "X-3",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "g"},
                        "ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "abc"}]}],
                    }
                ],
            },
            "WITHDRAWN.json": {**good, "id": "X-4", "withdrawn": "2024-02-01T00:00:00Z"},
        },
    )
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    meta = sources(db)["osv:PyPI"]
    assert meta.problems == {
        "invalid JSON": 1,
        "malformed record (no id)": 1,
        "unknown ecosystem": 1,
        "unparseable version": 1,
        "no comparable affected range": 3,  # the unknown-ecosystem, bad-version and GIT-only records
        "withdrawn": 1,
    }
    assert meta.skipped == 3  # bad JSON, no id, withdrawn: whole records lost
    # The good record is there under its PEP 503 name.
    assert query(db, "SELECT name FROM affected WHERE advisory_id = 'PYSEC-0000-1'") == [("good-pkg",)]
    assert query(db, "SELECT count(*) FROM affected WHERE advisory_id IN ('X-1', 'X-2', 'X-3', 'X-4')") == [
        (0,)
    ]


def test_corrupt_member_and_corrupt_zip_never_abort(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    # A stored (uncompressed) member whose bytes are flipped after writing: its CRC fails.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(
            "A-1.json", json.dumps(rec("A-1", "npm", "left-pad", [{"introduced": "0"}, {"fixed": "1.0.0"}]))
        )
        zf.writestr(
            "A-2.json", json.dumps(rec("A-2", "npm", "right-pad", [{"introduced": "0"}, {"fixed": "2.0.0"}]))
        )
    raw = bytearray(buf.getvalue())
    pos = raw.index(b"right-pad")
    raw[pos] ^= 0x20
    (mirror / "osv" / "npm").mkdir(parents=True)
    (mirror / "osv" / "npm" / "all.zip").write_bytes(bytes(raw))
    # A zip that is not a zip at all.
    (mirror / "osv" / "Go").mkdir(parents=True)
    (mirror / "osv" / "Go" / "all.zip").write_bytes(b"PK\x03\x04 truncated garbage")
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    src = sources(db)
    assert src["osv:npm"].records == 1
    assert src["osv:npm"].problems == {"corrupt zip member": 1}
    assert src["osv:Go"].records == 0
    assert src["osv:Go"].problems == {"unreadable input": 1}
    assert query(db, "SELECT advisory_id FROM affected") == [("A-1",)]


def test_osv_ranges_versions_severity_and_aliases_are_kept(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    record = {
        "id": "GHSA-wf5p-g6vw-rhxx",
        "modified": "2023-11-08T00:00:00Z",
        "published": "2023-11-08T21:30:37Z",
        "aliases": ["CVE-2023-45857"],
        "summary": "Axios Cross-Site Request Forgery Vulnerability",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "axios"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "0.8.1"}, {"fixed": "1.6.0"}]},
                    {
                        "type": "GIT",
                        "repo": "https://github.com/axios/axios",
                        "events": [{"introduced": "0"}],
                    },
                ],
                "versions": ["1.5.1"],
            }
        ],
        "references": [
            {"type": "WEB", "url": "https://example.org/w"},
            {"type": "ADVISORY", "url": "https://github.com/advisories/GHSA-wf5p-g6vw-rhxx"},
        ],
        "database_specific": {"severity": "MODERATE"},
    }
    osv_zip(mirror / "osv" / "npm" / "all.zip", {"GHSA-wf5p-g6vw-rhxx.json": record})
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    with VulnDB(db) as vdb:
        [aff] = vdb.affected("npm", "axios")
        assert aff.ranges == ((("introduced", "0.8.1"), ("fixed", "1.6.0")),)  # GIT range dropped
        assert aff.versions == ("1.5.1",)
        assert aff.status == "fixed"
        adv = vdb.advisories(["GHSA-wf5p-g6vw-rhxx"])["GHSA-wf5p-g6vw-rhxx"]
        assert adv.aliases == ("CVE-2023-45857",)
        assert adv.urls[0] == "https://github.com/advisories/GHSA-wf5p-g6vw-rhxx"  # ADVISORY first
        [cv] = vdb.cvss(["GHSA-wf5p-g6vw-rhxx"])
        # FIRST's calculator gives 6.5 for this vector (the GHSA page shows the same).
        assert (cv.version, cv.score) == ("3.1", 6.5)


DEBIAN_STATUSES = {
    # release entry (tracker JSON shape)                                 -> stored status
    "CVE-2099-0001": ({"status": "resolved", "fixed_version": "1.2-3", "urgency": "medium"}, "fixed"),
    "CVE-2099-0002": ({"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}, "not-affected"),
    "CVE-2099-0003": ({"status": "open", "urgency": "low"}, "not-fixed"),
    "CVE-2099-0004": ({"status": "open", "urgency": "low", "nodsa": "Minor issue"}, "no-dsa"),
    "CVE-2099-0005": (
        {"status": "open", "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "postponed"},
        "postponed",
    ),
    "CVE-2099-0006": (
        {"status": "open", "urgency": "low", "nodsa": "Not worth it", "nodsa_reason": "ignored"},
        "will-not-fix",
    ),
    "CVE-2099-0007": ({"status": "open", "urgency": "end-of-life"}, "end-of-life"),
    "CVE-2099-0008": ({"status": "undetermined", "urgency": "not yet assigned"}, "not-fixed"),
}


def debian_tracker_doc() -> dict[str, Any]:
    return {
        "foo": {
            cve: {"releases": {"bookworm": {**entry, "repositories": {"bookworm": "1.2-2"}}}}
            for cve, (entry, _) in DEBIAN_STATUSES.items()
        }
    }


def test_debian_statuses_are_preserved(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "debian").mkdir(parents=True)
    (mirror / "debian" / "tracker.json").write_text(json.dumps(debian_tracker_doc()))
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    rows = dict(
        query(db, "SELECT advisory_id, status FROM affected WHERE ecosystem = 'Debian:12' AND name = 'foo'")
    )
    assert rows == {cve: status for cve, (_, status) in DEBIAN_STATUSES.items()}


@needs_mirror
def test_real_tracker_sample_open_and_never_affected(tmp_path: Path) -> None:
    """osv.dev's tracker test fixture: real tracker JSON with open and fixed_version "0" entries."""
    sample = VULNDATA / "debian" / "samples" / "tracker-json" / "osv.dev-debian_security_tracker_mock.json"
    mirror = tmp_path / "mirror"
    (mirror / "debian").mkdir(parents=True)
    (mirror / "debian" / "tracker.json").write_bytes(sample.read_bytes())
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    raw = json.loads(sample.read_text())
    got = {
        (r[0], r[1], r[2]): r[3]
        for r in query(db, "SELECT name, advisory_id, ecosystem, status FROM affected")
    }
    codenames = {"bookworm": "12", "bullseye": "11", "buster": "10", "trixie": "13", "sid": "sid"}
    for pkg, cves in raw.items():
        for cve, info in cves.items():
            for rel, entry in info["releases"].items():
                status = got[(pkg, cve, f"Debian:{codenames[rel]}")]
                if entry["status"] == "resolved":
                    assert status == ("not-affected" if entry["fixed_version"] == "0" else "fixed")
                else:
                    assert status == "not-fixed"


def test_maven_advisory(tmp_path: Path) -> None:
    # Log4Shell as GitHub's advisory GHSA-jfh8-c2jp-5v3q lists it: three affected branches.
    mirror = tmp_path / "mirror"
    record = {
        "id": "GHSA-jfh8-c2jp-5v3q",
        "aliases": ["CVE-2021-44228"],
        "summary": "Remote code injection in Log4j",
        "affected": [
            {
                "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.4"}, {"fixed": "2.12.2"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]},
                ],
            }
        ],
    }
    osv_zip(mirror / "osv" / "Maven" / "all.zip", {"GHSA-jfh8-c2jp-5v3q.json": record})
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    with VulnDB(db) as vdb:
        [aff] = vdb.affected("Maven", "org.apache.logging.log4j:log4j-core")
        assert len(aff.ranges) == 3


def test_secdb_document_shapes(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "alpine" / "v3.18").mkdir(parents=True)
    doc = {
        "distroversion": "v3.18",
        "reponame": "main",
        "packages": [
            {
                "pkg": {
                    "name": "openssl",
                    "secfixes": {
                        "3.1.1-r0": ["CVE-2023-2650"],
                        "3.1.0-r2": ["CVE-2023-0464", "CVE-2023-0465"],
                        "0": ["CVE-2022-3358"],
                        "bad..version": ["CVE-2000-0001"],
                    },
                }
            },
            {"pkg": {"name": 5}},
        ],
    }
    (mirror / "alpine" / "v3.18" / "main.json").write_text(json.dumps(doc))
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    rows = sorted(
        query(db, "SELECT advisory_id, status, ranges FROM affected WHERE ecosystem = 'Alpine:v3.18'")
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("CVE-2022-3358", "not-affected"),
        ("CVE-2023-0464", "fixed"),
        ("CVE-2023-0465", "fixed"),
        ("CVE-2023-2650", "fixed"),
    ]
    meta = sources(db)["alpine:v3.18/main"]
    assert meta.problems == {"unparseable version": 1, "malformed package entry": 1}


def test_empty_mirror_is_an_input_error(tmp_path: Path) -> None:
    from imgsec.errors import InputError

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds none of"):
        build_database(str(tmp_path / "empty"), tmp_path / "db" / "imgsec.db")
    assert not (tmp_path / "db" / "imgsec.db").exists()
    assert [p.name for p in (tmp_path / "db").iterdir()] == [".imgsec.db.lock"]


# --- hostile input: any JSON shape is counted or refused, never a crash ----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "id",
    "affected",
    "package",
    "ranges",
    "events",
    "versions",
    "aliases",
    "severity",
    "withdrawn",
    "ecosystem",
    "name",
    "type",
    "introduced",
    "fixed",
    "releases",
    "status",
    "fixed_version",
    "packages",
    "pkg",
    "secfixes",
    "distroversion",
    "cveMetadata",
    "containers",
    "metrics",
]


def mutate(base: Any, data: st.DataObject) -> Any:
    """Replace one random node of ``base`` with arbitrary JSON."""
    if isinstance(base, dict) and base and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(base)))
        return {**base, key: mutate(base[key], data)}
    if isinstance(base, list) and base and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(base) - 1))
        return [*base[:i], mutate(base[i], data), *base[i + 1 :]]
    return data.draw(json_values | st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3))


SEEDS: dict[str, Any] = {
    "osv": rec(
        "GHSA-1",
        "npm",
        "x",
        [{"introduced": "0"}, {"fixed": "1.0.0"}],
        aliases=["CVE-1"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    ),
    "tracker": debian_tracker_doc(),
    "secdb": {
        "distroversion": "v3.18",
        "packages": [{"pkg": {"name": "a", "secfixes": {"1.0-r1": ["CVE-1"]}}}],
    },
    "cve": {
        "dataType": "CVE_RECORD",
        "cveMetadata": {"cveId": "CVE-2099-1"},
        "containers": {
            "cna": {"metrics": [{"cvssV3_1": {"vectorString": "CVSS:3.1/AV:N", "baseScore": 5}}]},
            "adp": [{"metrics": [{"other": {"type": "kev", "content": {}}}]}],
        },
    },
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_hostile_documents_never_crash_an_importer(tmp_path: Path, kind: str, data: st.DataObject) -> None:
    from imgsec.errors import InputError
    from imgsec.vulndb.importers.alpine_secdb import import_secdb_document
    from imgsec.vulndb.importers.base import Problems
    from imgsec.vulndb.importers.cve5 import import_cve_record
    from imgsec.vulndb.importers.debian_tracker import import_tracker
    from imgsec.vulndb.importers.osv import import_osv_record
    from imgsec.vulndb.store import DBWriter

    doc = mutate(SEEDS[kind], data)
    db = tmp_path / f"fuzz-{data.draw(st.integers(0, 10**9))}.db"
    writer = DBWriter(db)
    try:
        if kind == "osv":
            import_osv_record(doc, writer, "osv:npm", Problems("osv:npm"), where="fuzz")
        elif kind == "tracker":
            f = db.with_suffix(".json")
            f.write_text(json.dumps(doc))
            import_tracker(f, writer)
        elif kind == "secdb":
            import_secdb_document(doc, writer, where="fuzz")
        else:
            import_cve_record(doc, writer, Problems("cve"), where="fuzz")
        writer.commit("2024-01-01T00:00:00Z")
    except InputError:
        pass
    finally:
        writer.close()


def test_alias_must_be_a_list(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    bad = rec("GHSA-2", "npm", "y", [{"introduced": "0"}, {"fixed": "1.0.0"}], aliases="CVE-2099-0001")
    osv_zip(mirror / "osv" / "npm" / "all.zip", {"GHSA-2.json": bad})
    db = tmp_path / "imgsec.db"
    build_database(str(mirror), db)
    assert query(db, "SELECT alias FROM alias") == []  # not one alias per character
