"""The matcher: known answers from advisory texts, on the real mirror and on hand-written records."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgsec.findings import FindingKind, FixStatus, Severity, VulnerabilityFinding
from imgsec.match.matcher import Matcher, distro_ecosystem, in_range, match_packages, preferred_id
from imgsec.match.versions import parse_pep440
from imgsec.sbom.model import Distro, Location, Package, PackageType
from imgsec.vulndb.store import VulnDB
from imgsec.vulndb.update import build_database
from tests.unit.vulndbhelp import VULNDATA, real_db_path

BOOKWORM = Distro(id="debian", version_id="12", version_codename="bookworm")


@pytest.fixture(scope="module")
def real_db() -> Iterator[VulnDB]:
    with VulnDB(real_db_path()) as db:
        yield db


def pkg(name: str, version: str, type_: PackageType, purl: str | None = None, **kw: Any) -> Package:
    return Package(name=name, version=version, type=type_, purl=purl or f"pkg:generic/{name}@{version}", **kw)


def by_id(findings: list[VulnerabilityFinding], vid: str) -> VulnerabilityFinding | None:
    hits = [f for f in findings if f.id == vid or vid in f.aliases]
    assert len(hits) <= 1, f"{vid} reported {len(hits)} times"
    return hits[0] if hits else None


def osv_record(zip_path: Path, member: str) -> dict[str, Any]:
    with zipfile.ZipFile(zip_path) as zf:
        return json.loads(zf.read(member))  # type: ignore[no-any-return]


# --- the real mirror ---------------------------------------------------------------------------


def test_requests_cve_2018_18074(real_db: VulnDB) -> None:
    # "The Requests package before 2.20.0 for Python sends an HTTP Authorization header to an http
    # URI upon receiving a same-hostname https-to-http redirect" (CVE-2018-18074).
    loc = (Location("/usr/lib/python3/dist-packages/requests-2.19.1.dist-info/METADATA", "sha256:aa"),)
    old = pkg(
        "requests", "2.19.1", PackageType.PYTHON, "pkg:pypi/requests@2.19.1", locations=loc, layer="sha256:aa"
    )
    fixed = pkg("Requests", "2.20.0", PackageType.PYTHON, "pkg:pypi/requests@2.20.0")
    findings = match_packages([old, fixed], None, real_db)
    f = by_id([x for x in findings if x.package_version == "2.19.1"], "CVE-2018-18074")
    assert f is not None
    assert f.id == "CVE-2018-18074"  # a CVE is preferred over PYSEC/GHSA ids
    # The PYSEC record names the GHSA as an alias: one finding carries all three names.
    record = osv_record(VULNDATA / "osv" / "PyPI" / "all.zip", "PYSEC-2018-28.json")
    assert set(f.aliases) == ({"PYSEC-2018-28", *record["aliases"]} - {"CVE-2018-18074"})
    assert f.fixed_versions == ("2.20.0",)
    assert f.status is FixStatus.FIXED
    assert f.kind is FindingKind.VULNERABILITY
    assert f.locations == loc and f.layer == "sha256:aa"
    assert f.ecosystem == "PyPI"
    # At the fixed version (PEP 503 name spelled differently) it is not affected.
    assert by_id([x for x in findings if x.package_version == "2.20.0"], "CVE-2018-18074") is None


def test_one_finding_per_vulnerability(real_db: VulnDB) -> None:
    findings = match_packages(
        [pkg("requests", "2.19.1", PackageType.PYTHON, "pkg:pypi/requests@2.19.1")], None, real_db
    )
    names = [n for f in findings for n in (f.id, *f.aliases)]
    assert len(names) == len(set(names))


def test_go_module_and_stdlib(real_db: VulnDB) -> None:
    # GO-2020-0001: gin before 1.6.0 lets attackers inject log lines.
    gin = pkg(
        "github.com/gin-gonic/gin",
        "v1.5.0",
        PackageType.GO_MODULE,
        "pkg:golang/github.com/gin-gonic/gin@v1.5.0",
    )
    gin_ok = pkg(
        "github.com/gin-gonic/gin",
        "v1.6.0",
        PackageType.GO_MODULE,
        "pkg:golang/github.com/gin-gonic/gin@v1.6.0",
    )
    # GO-2023-2102 (HTTP/2 rapid reset in net/http): fixed in go1.20.10 and go1.21.3.
    go119 = pkg("stdlib", "go1.19.13", PackageType.GO_MODULE, "pkg:golang/stdlib@go1.19.13")
    go1212 = pkg("stdlib", "go1.21.2", PackageType.GO_MODULE, "pkg:golang/stdlib@go1.21.2")
    go1213 = pkg("stdlib", "go1.21.3", PackageType.GO_MODULE, "pkg:golang/stdlib@go1.21.3")
    m = Matcher(real_db)
    f = by_id(m.match([gin], None).findings, "GO-2020-0001")
    assert f is not None and f.id == "CVE-2020-36567" and f.fixed_versions == ("1.6.0",)
    assert by_id(m.match([gin_ok], None).findings, "GO-2020-0001") is None
    f = by_id(m.match([go119], None).findings, "GO-2023-2102")
    assert f is not None and f.fixed_versions == ("1.20.10",)
    f = by_id(m.match([go1212], None).findings, "GO-2023-2102")
    assert f is not None and f.fixed_versions == ("1.21.3",)  # the fix on its own branch only
    assert by_id(m.match([go1213], None).findings, "GO-2023-2102") is None


def test_npm_last_affected_is_inclusive(real_db: VulnDB) -> None:
    # NSWG-ECO-1: "A vulnerability exists in bassmaster <= 1.5.1"; upgrade to 1.5.2.
    m = Matcher(real_db)
    hit = m.match([pkg("bassmaster", "1.5.1", PackageType.NPM, "pkg:npm/bassmaster@1.5.1")], None).findings
    f = by_id(hit, "NSWG-ECO-1")
    assert f is not None and f.id == "CVE-2014-7205"
    # A "<=" range has no fixed event; the upgrade target comes from the advisory's
    # patched_versions (">=1.5.2", "Update to bassmaster version 1.5.2 or greater").
    record = osv_record(VULNDATA / "osv" / "npm" / "all.zip", "NSWG-ECO-1.json")
    assert record["database_specific"]["patched_versions"] == ">=1.5.2"
    assert f.status is FixStatus.FIXED and f.fixed_versions == ("1.5.2",)
    assert f.severity_source == "cvss:osv:3.0"  # no CVE record: the advisory's own vector
    ok = m.match([pkg("bassmaster", "1.5.2", PackageType.NPM, "pkg:npm/bassmaster@1.5.2")], None).findings
    assert by_id(ok, "NSWG-ECO-1") is None


def tracker_entry(source: str, cve: str) -> dict[str, Any]:
    data = json.loads((VULNDATA / "debian" / "tracker.json").read_text())
    return data[source][cve]["releases"]["bookworm"]  # type: ignore[no-any-return]


def test_bookworm_matches_through_the_source_package(real_db: VulnDB) -> None:
    entry = tracker_entry("glibc", "CVE-2024-2961")
    fixed = entry["fixed_version"]  # the tracker's own answer, 2.36-9+deb12u6
    before = "2.36-9+deb12u4"
    libc6 = pkg(
        "libc6",
        before,
        PackageType.DEB,
        "pkg:deb/debian/libc6@" + before,
        source_name="glibc",
        source_version=before,
    )
    findings = match_packages([libc6], BOOKWORM, real_db)
    f = by_id(findings, "CVE-2024-2961")
    assert f is not None
    assert f.fixed_versions == (fixed,) and f.status is FixStatus.FIXED
    assert f.ecosystem == "Debian:12" and f.package_name == "libc6"
    # Same binary, matched by its own name, finds nothing: advisories are keyed by source.
    assert match_packages([pkg("libc6", before, PackageType.DEB)], BOOKWORM, real_db) == []
    # At the fixed version, and at a binNMU of it, the package is not affected.
    at_fix = pkg("libc6", fixed, PackageType.DEB, source_name="glibc", source_version=fixed)
    binnmu = pkg("libc6", fixed + "+b1", PackageType.DEB, source_name="glibc", source_version=fixed)
    assert by_id(match_packages([at_fix, binnmu], BOOKWORM, real_db), "CVE-2024-2961") is None
    # Not a Debian image: no Debian advisories.
    assert match_packages([libc6], Distro(id="ubuntu", version_id="22.04"), real_db) == []


def test_severity_from_cve_record_then_urgency(real_db: VulnDB) -> None:
    with zipfile.ZipFile(VULNDATA / "cve" / "records.zip") as zf:
        record = json.loads(zf.read("CVE-2024-2961.json"))
    scores = [
        m[k]["baseScore"]
        for c in [record["containers"]["cna"], *record["containers"].get("adp", [])]
        for m in c.get("metrics", [])
        for k in ("cvssV3_1", "cvssV3_0")
        if k in m
    ]
    libc6 = pkg(
        "libc6", "2.36-9+deb12u4", PackageType.DEB, source_name="glibc", source_version="2.36-9+deb12u4"
    )
    findings = match_packages([libc6], BOOKWORM, real_db)
    f = by_id(findings, "CVE-2024-2961")
    assert f is not None and f.severity_source.startswith("cvss:cve:")
    assert any(c.score == scores[0] for c in f.cvss)
    assert f.severity is Severity.from_cvss_score(scores[0])
    # A CVE with no CVSS anywhere falls back to the tracker's urgency.
    no_cvss = [x for x in findings if not x.cvss]
    assert no_cvss, "expected some glibc CVEs without a CVE record"
    for x in no_cvss:
        urgency = tracker_entry("glibc", x.id)["urgency"]
        assert x.severity_source == "debian-urgency"
        assert x.severity is {"high": Severity.HIGH, "medium": Severity.MEDIUM, "low": Severity.LOW}[urgency]


def test_kev_mark(real_db: VulnDB) -> None:
    # CVE-2023-44487 (HTTP/2 rapid reset) is in CISA's KEV catalog; nghttp2 fixed it in bookworm.
    entry = tracker_entry("nghttp2", "CVE-2023-44487")
    lib = pkg("libnghttp2-14", "1.52.0-1", PackageType.DEB, source_name="nghttp2", source_version="1.52.0-1")
    f = by_id(match_packages([lib], BOOKWORM, real_db), "CVE-2023-44487")
    assert f is not None and f.kev and f.fixed_versions == (entry["fixed_version"],)


def test_unparseable_installed_version_is_skipped_not_fatal(real_db: VulnDB) -> None:
    bad = pkg("requests", "not-a-version!", PackageType.PYTHON, "pkg:pypi/requests")
    good = pkg("requests", "2.19.1", PackageType.PYTHON, "pkg:pypi/requests@2.19.1")
    result = Matcher(real_db).match([bad, good], None)
    assert result.skipped == {"unparseable PyPI version": 1}
    assert all(f.package_version == "2.19.1" for f in result.findings)
    assert result.findings


# --- hand-written records ----------------------------------------------------------------------


def write_mirror(
    root: Path,
    osv: dict[str, list[dict[str, Any]]],
    tracker: dict[str, Any] | None = None,
    secdb: dict[str, Any] | None = None,
) -> None:
    for eco, records in osv.items():
        (root / "osv" / eco).mkdir(parents=True)
        with zipfile.ZipFile(root / "osv" / eco / "all.zip", "w") as zf:
            for r in records:
                zf.writestr(f"{r['id']}.json", json.dumps(r))
    if tracker is not None:
        (root / "debian").mkdir(parents=True)
        (root / "debian" / "tracker.json").write_text(json.dumps(tracker))
    if secdb is not None:
        d = root / "alpine" / secdb["distroversion"]
        d.mkdir(parents=True)
        (d / "main.json").write_text(json.dumps(secdb))


def rec(
    vid: str,
    eco: str,
    name: str,
    *ranges: list[dict[str, str]],
    versions: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    affected: dict[str, Any] = {
        "package": {"ecosystem": eco, "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": ev} for ev in ranges],
    }
    if versions is not None:
        affected["versions"] = versions
    return {"id": vid, "modified": "2024-01-01T00:00:00Z", "affected": [affected], **extra}


DEBIAN_CASES = {
    "CVE-2099-0001": ({"status": "resolved", "fixed_version": "1.2-3", "urgency": "medium"}, FixStatus.FIXED),
    "CVE-2099-0002": ({"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}, None),
    "CVE-2099-0003": ({"status": "open", "urgency": "low"}, FixStatus.NOT_FIXED),
    "CVE-2099-0004": ({"status": "open", "urgency": "low", "nodsa": "Minor issue"}, FixStatus.NO_DSA),
    "CVE-2099-0005": (
        {"status": "open", "urgency": "low", "nodsa": "x", "nodsa_reason": "postponed"},
        FixStatus.POSTPONED,
    ),
    "CVE-2099-0006": (
        {"status": "open", "urgency": "low", "nodsa": "x", "nodsa_reason": "ignored"},
        FixStatus.WILL_NOT_FIX,
    ),
    "CVE-2099-0007": ({"status": "open", "urgency": "end-of-life"}, FixStatus.END_OF_LIFE),
    "CVE-2099-0008": ({"status": "resolved", "fixed_version": "1.0-1", "urgency": "high"}, "old fix"),
}


@pytest.fixture(scope="module")
def hand_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnDB]:
    root = tmp_path_factory.mktemp("mirror")
    osv = {
        "PyPI": [
            rec("PYSEC-9999-1", "PyPI", "Lim.Pkg", [{"introduced": "1.0"}, {"limit": "1.5"}]),
            rec("PYSEC-9999-2", "PyPI", "zero", [{"introduced": "0"}, {"fixed": "2.0"}]),
            rec("PYSEC-9999-3", "PyPI", "last", [{"introduced": "0"}, {"last_affected": "3.1"}]),
            rec("PYSEC-9999-4", "PyPI", "listed", versions=["1.0", "1.1"]),
            # two advisories for one flaw, linked only through a shared alias
            rec(
                "PYSEC-9999-5",
                "PyPI",
                "dup",
                [{"introduced": "0"}, {"fixed": "1.0"}],
                aliases=["CVE-2099-1111"],
                summary="from pysec",
            ),
            rec(
                "GHSA-aaaa-bbbb-cccc",
                "PyPI",
                "dup",
                [{"introduced": "0"}, {"fixed": "1.0"}],
                aliases=["CVE-2099-1111"],
                severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            ),
            rec(
                "GHSA-mmmm-mmmm-mmmm",
                "PyPI",
                "labelled",
                [{"introduced": "0"}, {"fixed": "1.0"}],
                database_specific={"severity": "MODERATE"},
            ),
            rec(
                "PYSEC-9999-7",
                "PyPI",
                "old-cvss",
                [{"introduced": "0"}, {"fixed": "1.0"}],
                severity=[{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}],
            ),
            # events out of order (allowed by the schema)
            rec("PYSEC-9999-6", "PyPI", "unordered", [{"fixed": "2.0"}, {"introduced": "1.0"}]),
        ],
        "Maven": [
            {
                "id": "GHSA-jfh8-c2jp-5v3q",
                "aliases": ["CVE-2021-44228"],
                "summary": "Remote code injection in Log4j",
                "affected": [
                    {
                        "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}],
                            },
                            {"type": "ECOSYSTEM", "events": [{"introduced": "2.4"}, {"fixed": "2.12.2"}]},
                            {"type": "ECOSYSTEM", "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]},
                        ],
                    }
                ],
            }
        ],
        "npm": [
            rec(
                "GHSA-wf5p-g6vw-rhxx",
                "npm",
                "axios",
                [{"introduced": "0.8.1"}, {"fixed": "1.6.0"}],
                aliases=["CVE-2023-45857"],
                summary="Axios Cross-Site Request Forgery Vulnerability",
            )
        ],
        "crates.io": [
            rec("RUSTSEC-2099-0001", "crates.io", "Some_Crate", [{"introduced": "0"}, {"fixed": "0.3.0"}])
        ],
        "RubyGems": [rec("RUBYSEC-x", "RubyGems", "rails", [{"introduced": "5.2.0"}, {"fixed": "5.2.4.2"}])],
    }
    tracker = {
        "foo": {
            cve: {"releases": {"bookworm": {**entry, "repositories": {"bookworm": "1.2-2"}}}}
            for cve, (entry, _) in DEBIAN_CASES.items()
        }
    }
    secdb = {
        "distroversion": "v3.18",
        "reponame": "main",
        "packages": [
            {"pkg": {"name": "openssl", "secfixes": {"3.1.0-r2": ["CVE-2023-0464"], "0": ["CVE-2022-3358"]}}}
        ],
    }
    write_mirror(root, osv, tracker, secdb)
    path = root / "imgsec.db"
    build_database(str(root), path)
    with VulnDB(path) as db:
        yield db


def affected_ids(db: VulnDB, p: Package, distro: Distro | None = None) -> set[str]:
    return {f.id for f in match_packages([p], distro, db)}


def py(name: str, version: str) -> Package:
    return pkg(name, version, PackageType.PYTHON, f"pkg:pypi/{name}@{version}")


@pytest.mark.parametrize(
    ("name", "version", "affected"),
    [
        ("lim-pkg", "0.9", False),  # below introduced
        ("lim-pkg", "1.0", True),  # introduced is inclusive
        ("lim_pkg", "1.4.9", True),
        ("lim-pkg", "1.5", False),  # limit is exclusive
        ("zero", "0.0.1", True),  # introduced 0 = from the beginning
        ("zero", "1.9.9rc1", True),
        ("zero", "2.0", False),  # fixed is exclusive
        ("zero", "2.0.post1", False),
        ("last", "3.1", True),  # last_affected is inclusive
        ("last", "3.1.1", False),
        ("listed", "1.1", True),  # explicit versions list
        ("listed", "1.1.0", True),  # PEP 440 equality: 1.1 == 1.1.0
        ("listed", "1.2", False),
        ("unordered", "1.5", True),
        ("unordered", "0.5", False),
        ("unordered", "2.0", False),
    ],
)
def test_osv_range_semantics(hand_db: VulnDB, name: str, version: str, affected: bool) -> None:
    assert bool(affected_ids(hand_db, py(name, version))) is affected


def test_aliases_merge_two_advisories(hand_db: VulnDB) -> None:
    [f] = match_packages([py("dup", "0.5")], None, hand_db)
    assert f.id == "CVE-2099-1111"
    assert set(f.aliases) == {"PYSEC-9999-5", "GHSA-aaaa-bbbb-cccc"}
    assert f.advisory_ids == ("GHSA-aaaa-bbbb-cccc", "PYSEC-9999-5")
    # The only score is the GHSA's vector; 9.8 is CRITICAL.
    assert f.severity is Severity.CRITICAL and f.severity_source == "cvss:osv:3.1"
    assert f.fixed_versions == ("1.0",)


def test_severity_from_label_and_cvss_v2(hand_db: VulnDB) -> None:
    # GitHub's "MODERATE" is MEDIUM; a CVSS v2 10.0 is "High", the top of the v2 scale (NVD bands).
    [f] = match_packages([py("labelled", "0.1")], None, hand_db)
    assert (f.severity, f.severity_source) == (Severity.MEDIUM, "advisory:GHSA-mmmm-mmmm-mmmm")
    [f] = match_packages([py("old-cvss", "0.1")], None, hand_db)
    assert (f.severity, f.severity_source) == (Severity.HIGH, "cvss:osv:2.0")
    assert [c.score for c in f.cvss] == [10.0]


def test_maven_log4shell(hand_db: VulnDB) -> None:
    def log4j(v: str) -> Package:
        return pkg(
            "log4j-core", v, PackageType.JAVA_ARCHIVE, f"pkg:maven/org.apache.logging.log4j/log4j-core@{v}"
        )

    [f] = match_packages([log4j("2.14.1")], None, hand_db)
    assert (f.id, f.fixed_versions) == ("CVE-2021-44228", ("2.15.0",))
    [f] = match_packages([log4j("2.0-rc1")], None, hand_db)
    assert f.fixed_versions == ("2.3.1",)
    for safe in ("2.0-beta8", "2.3.1", "2.12.2", "2.15.0", "2.17.1"):
        assert match_packages([log4j(safe)], None, hand_db) == [], safe


def test_npm_axios(hand_db: VulnDB) -> None:
    def axios(v: str) -> Package:
        return pkg("axios", v, PackageType.NPM, f"pkg:npm/axios@{v}")

    [f] = match_packages([axios("1.5.1")], None, hand_db)
    assert (f.id, f.fixed_versions, f.title) == (
        "CVE-2023-45857",
        ("1.6.0",),
        "Axios Cross-Site Request Forgery Vulnerability",
    )
    assert match_packages([axios("1.6.0")], None, hand_db) == []
    assert match_packages([axios("0.8.0")], None, hand_db) == []
    assert len(match_packages([axios("1.6.0-beta.1")], None, hand_db)) == 1  # prerelease of the fix


def test_crates_and_gems(hand_db: VulnDB) -> None:
    crate = pkg("some_crate", "0.2.9", PackageType.RUST_CRATE, "pkg:cargo/some_crate@0.2.9")
    assert affected_ids(hand_db, crate) == {"RUSTSEC-2099-0001"}
    assert affected_ids(hand_db, pkg("rails", "5.2.4.1", PackageType.GEM)) == {"RUBYSEC-x"}
    assert affected_ids(hand_db, pkg("rails", "5.2.4.2", PackageType.GEM)) == set()
    assert affected_ids(hand_db, pkg("rails", "5.2.0.rc1", PackageType.GEM)) == set()  # before introduced


def test_debian_statuses_reach_the_finding(hand_db: VulnDB) -> None:
    foo = pkg("libfoo1", "1.2-2", PackageType.DEB, "pkg:deb/debian/libfoo1@1.2-2", source_name="foo")
    got = {f.id: f for f in match_packages([foo], BOOKWORM, hand_db)}
    expected = {cve: st for cve, (_, st) in DEBIAN_CASES.items() if isinstance(st, FixStatus)}
    assert {k: v.status for k, v in got.items()} == expected
    assert got["CVE-2099-0001"].fixed_versions == ("1.2-3",)
    assert got["CVE-2099-0003"].fixed_versions == ()
    assert got["CVE-2099-0001"].severity is Severity.MEDIUM  # urgency fallback
    assert got["CVE-2099-0001"].url == "https://security-tracker.debian.org/tracker/CVE-2099-0001"
    # Another release has no entries: nothing matches there.
    assert match_packages([foo], Distro(id="debian", version_id="11"), hand_db) == []


def test_alpine_origin_and_never_affected(hand_db: VulnDB) -> None:
    alpine = Distro(id="alpine", version_id="3.18.4")
    lib = pkg(
        "libcrypto3", "3.1.0-r1", PackageType.APK, "pkg:apk/alpine/libcrypto3@3.1.0-r1", source_name="openssl"
    )
    assert affected_ids(hand_db, lib, alpine) == {"CVE-2023-0464"}  # "0" entry: never affected
    fixed = pkg("libcrypto3", "3.1.0-r2", PackageType.APK, source_name="openssl")
    assert affected_ids(hand_db, fixed, alpine) == set()
    assert affected_ids(hand_db, lib, Distro(id="alpine", version_id="3.17.1")) == set()


def test_distro_ecosystems() -> None:
    assert distro_ecosystem(BOOKWORM) == "Debian:12"
    assert distro_ecosystem(Distro(id="debian", version_codename="trixie")) == "Debian:13"
    assert distro_ecosystem(Distro(id="debian", version_id="10")) == "Debian:10"
    assert distro_ecosystem(Distro(id="alpine", version_id="3.11.6")) == "Alpine:v3.11"
    assert distro_ecosystem(Distro(id="ubuntu", version_id="22.04")) is None
    assert distro_ecosystem(None) is None


def test_in_range_direct() -> None:
    assert in_range("PyPI", parse_pep440("1.0"), (("introduced", "0"), ("fixed", "1.0.1")))
    assert not in_range("PyPI", parse_pep440("1.0.1"), (("introduced", "0"), ("fixed", "1.0.1")))


def test_preferred_id() -> None:
    assert preferred_id(["PYSEC-2018-28", "GHSA-x84v-xcm2-53pg", "CVE-2018-18074"]) == "CVE-2018-18074"
    assert preferred_id(["PYSEC-2018-28", "GHSA-x84v-xcm2-53pg"]) == "GHSA-x84v-xcm2-53pg"
    assert preferred_id(["RUSTSEC-2099-0001"]) == "RUSTSEC-2099-0001"


# FIRST CVSS v3.1 specification, section 5 "Qualitative Severity Rating Scale".
@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.UNKNOWN),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
        (None, Severity.UNKNOWN),
    ],
)
def test_severity_bands(score: float | None, severity: Severity) -> None:
    assert Severity.from_cvss_score(score) is severity


def test_severity_order_and_parse() -> None:
    assert Severity.UNKNOWN < Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL
    assert max([Severity.LOW, Severity.CRITICAL, Severity.MEDIUM]) is Severity.CRITICAL
    assert Severity.parse("high") is Severity.HIGH
    with pytest.raises(ValueError, match="unknown severity"):
        Severity.parse("severe")
