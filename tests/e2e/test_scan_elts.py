"""Debian ELTS advisories (``ELA-...``) in ``imgsec scan``: the CVEs they fix, rated and suppressible.

The offline mirror's ``Debian:7``..``Debian:10`` OSV records are Freexian ELTS advisories that name
the CVEs they fix in ``related``. The database is built from the real mirror by the real importer;
the SBOMs are hand-written CycloneDX documents with one affected package each. Expectations are read
from the mirror itself (the ELA record's ``related`` list, the CVE JSON 5 records' ``baseSeverity``
and CISA KEV entries), never from imgsec's output.

Advisories used (found by reading the mirror; each has no ``severity`` and no ``summary``):

- ELA-1208-1, php5 (Debian:8), fixed in 5.6.40+dfsg-0+deb8u21: CVE-2024-8925 (CNA: LOW) and
  CVE-2024-8927 (CNA: HIGH).
- ELA-1190-1, expat (Debian:8), fixed in 2.1.0-6+deb8u12: CVE-2024-45490/45491/45492, rated only by
  CISA-ADP (CRITICAL, HIGH, HIGH).
- ELA-984-1, nghttp2 (Debian:9), fixed in 1.18.1-1+deb9u3: CVE-2023-44487 (in CISA KEV).
- ELA-676-1, linux-5.10 (Debian:9), fixed in 5.10.136-1~deb9u1: nine related CVEs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.vulndbhelp import VULNDATA, real_db_path

IMGSEC = Path(sys.executable).parent / "imgsec"
CVE_ZIP = VULNDATA / "cve" / "records.zip"
_ORDER = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]

pytestmark = pytest.mark.skipif(not VULNDATA.is_dir(), reason="offline mirror not present")


# --- what the mirror says ------------------------------------------------------------------------


def ela_record(release: int, ela: str) -> dict[str, Any]:
    with zipfile.ZipFile(VULNDATA / "osv" / f"Debian:{release}" / "all.zip") as z:
        record: dict[str, Any] = json.loads(z.read(f"{ela}.json"))
    return record


def cve_record(cve: str) -> dict[str, Any] | None:
    with zipfile.ZipFile(CVE_ZIP) as z:
        try:
            record: dict[str, Any] = json.loads(z.read(f"{cve}.json"))
        except KeyError:
            return None
    return record


def cve_rating(cve: str) -> tuple[str, str] | None:
    """(baseSeverity, provider) of a CVE record: the CNA's CVSS v3 rating, else an ADP's."""
    record = cve_record(cve)
    if record is None:
        return None
    containers = record["containers"]
    providers = [("cna", containers.get("cna", {}))] + [
        (adp["providerMetadata"]["shortName"], adp) for adp in containers.get("adp", [])
    ]
    for name, container in providers:
        for metric in container.get("metrics", []):
            for key in ("cvssV3_1", "cvssV3_0"):
                if key in metric:
                    return str(metric[key]["baseSeverity"]), name
    return None


def in_kev(cve: str) -> bool:
    record = cve_record(cve)
    return record is not None and any(
        isinstance(m.get("other"), dict) and m["other"].get("type") == "kev"
        for adp in record["containers"].get("adp", [])
        for m in adp.get("metrics", [])
    )


def expected_rating(related: list[str]) -> tuple[str, str]:
    rated = [(r, cve_rating(r)) for r in sorted(related)]
    best = max(((rating[0], cve) for cve, rating in rated if rating), key=lambda x: _ORDER.index(x[0]))
    cve = best[1]
    rating = cve_rating(cve)
    assert rating is not None
    return best[0], f"{cve} ({rating[1]})"


# --- running imgsec ------------------------------------------------------------------------------


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    return subprocess.run(
        [str(IMGSEC), *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir holding a copy of the database built from the real mirror by the real importer."""
    root = tmp_path_factory.mktemp("elts")
    (root / "db").mkdir()
    shutil.copyfile(real_db_path(), root / "db" / "imgsec.db")
    return root


def sbom(tmp: Path, release: int, packages: list[tuple[str, str]]) -> Path:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": f"old-debian-{release}"}},
        "components": [
            {"type": "operating-system", "name": "debian", "version": str(release)},
            *(
                {
                    "type": "library",
                    "name": name,
                    "version": version,
                    "purl": f"pkg:deb/debian/{name}@{version.replace('+', '%2B')}?distro=debian-{release}",
                }
                for name, version in packages
            ),
        ],
    }
    path = tmp / f"sbom-{release}-{packages[0][0]}.cdx.json"
    path.write_text(json.dumps(doc))
    return path


def scan(cache: Path, sbom_path: Path, *args: str, fmt: str = "json") -> subprocess.CompletedProcess[str]:
    return run("scan", "--sbom", str(sbom_path), "--cache-dir", str(cache), "-f", fmt, *args)


def scan_doc(cache: Path, sbom_path: Path, *args: str) -> dict[str, Any]:
    res = scan(cache, sbom_path, *args)
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def finding(doc: dict[str, Any], vid: str) -> dict[str, Any]:
    hits: list[dict[str, Any]] = [f for f in doc["findings"] if f["id"] == vid]
    assert len(hits) == 1, [f["id"] for f in doc["findings"]]
    return hits[0]


PHP5 = (8, "php5", "5.6.40+dfsg-0+deb8u20", "ELA-1208-1")
EXPAT = (8, "expat", "2.1.0-6+deb8u11", "ELA-1190-1")


# --- related ids and severity -------------------------------------------------------------------


@pytest.mark.parametrize("case", [PHP5, EXPAT], ids=["cna", "cisa-adp"])
def test_related_cves_shown_and_rated_by_the_highest(
    cache: Path, tmp_path: Path, case: tuple[int, str, str, str]
) -> None:
    release, name, version, ela = case
    record = ela_record(release, ela)
    assert "severity" not in record and not record.get("aliases")  # nothing of its own to rate it by
    f = finding(scan_doc(cache, sbom(tmp_path, release, [(name, version)])), ela)
    assert f["related"] == sorted(set(record["related"]))
    severity, source = expected_rating(record["related"])
    assert (f["severity"], f["severity_source"]) == (severity, source)
    assert f["aliases"] == []  # related ids are not aliases: the finding stays the ELA


def test_php5_expectation_is_what_the_mirror_says() -> None:
    # Guards the hand-picked case: two CVEs of different severity, the higher one wins.
    assert cve_rating("CVE-2024-8925") == ("LOW", "cna")
    assert cve_rating("CVE-2024-8927") == ("HIGH", "cna")


def test_kev_of_a_related_cve_marks_the_finding(cache: Path, tmp_path: Path) -> None:
    record = ela_record(9, "ELA-984-1")
    assert [c for c in record["related"] if in_kev(c)] == ["CVE-2023-44487"]
    f = finding(scan_doc(cache, sbom(tmp_path, 9, [("nghttp2", "1.18.1-1+deb9u2")])), "ELA-984-1")
    assert f["kev"] is True
    assert f["related"] == ["CVE-2023-44487"]


def test_every_output_shows_the_related_cves(cache: Path, tmp_path: Path) -> None:
    record = ela_record(9, "ELA-676-1")
    related = sorted(set(record["related"]))
    assert len(related) > 3 and not record.get("summary")
    path = sbom(tmp_path, 9, [("linux-5.10", "5.10.127-2~deb9u1")])

    table = scan(cache, path, fmt="table")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "ELA-676-1" in line)
    assert f"fixes {related[0]}" in row  # no title: the table says what the advisory fixes

    sarif = json.loads(scan(cache, path, fmt="sarif").stdout)
    rule = next(r for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "ELA-676-1")
    assert rule["properties"]["related"] == related
    assert all(c in rule["help"]["text"] for c in related)

    cdx = json.loads(scan(cache, path, fmt="cyclonedx").stdout)
    vuln = next(v for v in cdx["vulnerabilities"] if v["id"] == "ELA-676-1")
    assert {r["id"] for r in vuln["references"]} >= set(related)
    assert {p["value"] for p in vuln["properties"] if p["name"] == "imgsec:related"} == set(related)

    html = scan(cache, path, fmt="html").stdout
    assert all(c in html for c in related)


# --- suppression --------------------------------------------------------------------------------


def _ids(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["findings"]}


def test_ignore_file_needs_every_related_cve(cache: Path, tmp_path: Path) -> None:
    release, name, version, ela = PHP5
    path = sbom(tmp_path, release, [(name, version)])
    related = sorted(ela_record(release, ela)["related"])
    assert related == ["CVE-2024-8925", "CVE-2024-8927"]
    one = tmp_path / "one.ignore"
    one.write_text("CVE-2024-8927  # fixed by our own patch\n")
    assert ela in _ids(scan_doc(cache, path, "--ignore-file", str(one)))  # CVE-2024-8925 still open

    both = tmp_path / "both.ignore"
    both.write_text("CVE-2024-8927\nCVE-2024-8925  # not reachable\n")
    doc = scan_doc(cache, path, "--ignore-file", str(both))
    assert ela not in _ids(doc)
    reason = next(s["reason"] for s in doc["suppressed"] if s["finding"]["id"] == ela)
    assert "CVE-2024-8925" in reason and "CVE-2024-8927" in reason

    expired = tmp_path / "expired.ignore"
    expired.write_text("CVE-2024-8927\nCVE-2024-8925 exp:2020-01-01\n")
    assert ela in _ids(scan_doc(cache, path, "--ignore-file", str(expired)))

    by_id = tmp_path / "ela.ignore"
    by_id.write_text(f"{ela}\n")
    assert ela not in _ids(scan_doc(cache, path, "--ignore-file", str(by_id)))  # as before


def _openvex(path: Path, statements: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://openvex.dev/docs/example/elts",
                "author": "e2e",
                "timestamp": "2025-01-01T00:00:00Z",
                "version": 1,
                "statements": statements,
            }
        )
    )
    return path


def _statement(cve: str, status: str = "not_affected", when: str | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {
        "vulnerability": {"name": cve},
        "products": [{"@id": "pkg:deb/debian/php5"}],  # every version
        "status": status,
    }
    if status == "not_affected":
        st["justification"] = "vulnerable_code_not_in_execute_path"
    if when:
        st["timestamp"] = when
    return st


def test_openvex_per_related_cve_suppresses(cache: Path, tmp_path: Path) -> None:
    release, name, version, ela = PHP5
    path = sbom(tmp_path, release, [(name, version)])
    one = _openvex(tmp_path / "one.json", [_statement("CVE-2024-8925")])
    assert ela in _ids(scan_doc(cache, path, "--vex", str(one)))

    both = _openvex(tmp_path / "both.json", [_statement("CVE-2024-8925"), _statement("CVE-2024-8927")])
    doc = scan_doc(cache, path, "--vex", str(both))
    assert ela not in _ids(doc)
    assert any(s["finding"]["id"] == ela for s in doc["suppressed"])

    # A later "affected" statement about one of them reopens it, and with it the advisory.
    reopened = _openvex(
        tmp_path / "reopened.json",
        [
            _statement("CVE-2024-8925"),
            _statement("CVE-2024-8927"),
            _statement("CVE-2024-8927", "affected", "2025-06-01T00:00:00Z"),
        ],
    )
    assert ela in _ids(scan_doc(cache, path, "--vex", str(reopened)))

    # Ignore file and VEX together are one set of suppressions.
    ignore = tmp_path / "mixed.ignore"
    ignore.write_text("CVE-2024-8927\n")
    assert ela not in _ids(scan_doc(cache, path, "--vex", str(one), "--ignore-file", str(ignore)))


# --- edge cases, on hand-written records --------------------------------------------------------

#: AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N: CVSS 3.1 base score 2.0 (spec section 7.1: ISS 0.22, impact
#: 1.4124, exploitability 8.22 * 0.85 * 0.44 * 0.27 * 0.62 = 0.5146, roundup(1.927) = 2.0) -> LOW.
LOW_VECTOR = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"
RATED_CVE = "CVE-2024-45490"  # in the real mirror's records.zip, rated CRITICAL by CISA-ADP
MISSING_CVE = "CVE-2099-0001"  # in no CVE record


def _ela(ela: str, package: str, related: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": ela,
        "modified": "2025-01-01T00:00:00Z",
        "published": "2025-01-01T00:00:00Z",
        "related": related,
        "affected": [
            {
                "package": {"ecosystem": "Debian:8", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
            }
        ],
        **extra,
    }


HAND_WRITTEN = [
    _ela("ELA-9001-1", "elts-own-vector", [RATED_CVE], severity=[{"type": "CVSS_V3", "score": LOW_VECTOR}]),
    _ela("ELA-9002-1", "elts-own-label", [RATED_CVE], database_specific={"severity": "medium"}),
    _ela("ELA-9003-1", "elts-unrated", [MISSING_CVE]),
    _ela("ELA-9004-1", "elts-half-rated", [MISSING_CVE, RATED_CVE]),
]


@pytest.fixture(scope="module")
def hand_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``imgsec db update`` from a mirror holding the hand-written ELTS records and one real CVE record."""
    root = tmp_path_factory.mktemp("elts-hand")
    mirror = root / "mirror"
    (mirror / "osv" / "Debian:8").mkdir(parents=True)
    (mirror / "cve").mkdir()
    with zipfile.ZipFile(mirror / "osv" / "Debian:8" / "all.zip", "w") as z:
        for record in HAND_WRITTEN:
            z.writestr(f"{record['id']}.json", json.dumps(record))
    with zipfile.ZipFile(CVE_ZIP) as src, zipfile.ZipFile(mirror / "cve" / "records.zip", "w") as z:
        z.writestr(f"{RATED_CVE}.json", src.read(f"{RATED_CVE}.json"))
    cache = root / "cache"
    res = run("db", "update", "--mirror", str(mirror), "--cache-dir", str(cache), "-q")
    assert res.returncode == 0, res.stderr
    return cache


def test_edge_cases_of_rating_by_related_cves(hand_cache: Path, tmp_path: Path) -> None:
    names = [r["affected"][0]["package"]["name"] for r in HAND_WRITTEN]
    doc = scan_doc(hand_cache, sbom(tmp_path, 8, [(n, "1.0-1") for n in names]))
    by_id = {f["id"]: f for f in doc["findings"]}
    assert set(by_id) == {r["id"] for r in HAND_WRITTEN}
    critical = cve_rating(RATED_CVE)
    assert critical == ("CRITICAL", "CISA-ADP")

    # The advisory's own severity is kept, never raised or lowered by its related CVEs.
    own = by_id["ELA-9001-1"]
    assert own["severity"] == "LOW" and own["severity_source"].startswith("cvss:osv")
    assert own["related"] == [RATED_CVE]
    label = by_id["ELA-9002-1"]
    assert (label["severity"], label["severity_source"]) == ("MEDIUM", "advisory:ELA-9002-1")

    # A related CVE the database has no record of rates nothing.
    unrated = by_id["ELA-9003-1"]
    assert (unrated["severity"], unrated["severity_source"]) == ("UNKNOWN", "")
    assert unrated["related"] == [MISSING_CVE]
    assert unrated["kev"] is False

    half = by_id["ELA-9004-1"]
    assert (half["severity"], half["severity_source"]) == ("CRITICAL", f"{RATED_CVE} (CISA-ADP)")
    assert half["related"] == sorted([MISSING_CVE, RATED_CVE])
    assert half["title"] == ""
