"""Matching on the real test images (SBOM by imgsec's own pipeline) against the real mirror.

Expected answers come from the advisories' own words (CVE descriptions, "before X") and, for
the bookworm image, from the tracker data checked with ``dpkg --compare-versions``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from imgsec.findings import VulnerabilityFinding
from imgsec.image.sources import open_image
from imgsec.match.matcher import Matcher, MatchResult
from imgsec.sbom.catalog import catalog_image
from imgsec.sbom.model import SBOM, PackageType
from imgsec.vulndb.store import VulnDB
from tests.fixtures.images import FixtureImage, bookworm, langs
from tests.unit.vulndbhelp import VULNDATA, real_db_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db() -> Iterator[VulnDB]:
    with VulnDB(real_db_path()) as vdb:
        yield vdb


def sbom_of(image: FixtureImage) -> SBOM:
    return catalog_image(open_image(f"oci:{image.layout}:{image.tag}"))


@pytest.fixture(scope="module")
def langs_result(db: VulnDB) -> tuple[SBOM, MatchResult]:
    sbom = sbom_of(langs())
    return sbom, Matcher(db).match(sbom.packages, sbom.distro)


def find(findings: list[VulnerabilityFinding], package: str, vid: str) -> VulnerabilityFinding:
    # Python package names are compared as PEP 503 names (the SBOM may spell them either way).
    hits = [
        f
        for f in findings
        if f.package_name.lower() == package.lower()
        and (f.id == vid or vid in f.aliases or vid in f.advisory_ids)
    ]
    assert len(hits) == 1, f"{package} {vid}: {len(hits)} findings"
    return hits[0]


# (package as installed, vulnerability, fixed version for that package's line), each from the
# advisory text: e.g. CVE-2019-14232 "Django 1.11.x before 1.11.23, 2.1.x before 2.1.11, and
# 2.2.x before 2.2.4".
KNOWN = [
    ("requests", "CVE-2018-18074", "2.20.0"),  # "before 2.20.0"
    ("urllib3", "CVE-2019-11324", "1.24.2"),  # "before 1.24.2"
    ("Django", "CVE-2019-14232", "2.2.4"),
    ("Jinja2", "CVE-2019-10906", "2.10.1"),  # "In Pallets Jinja before 2.10.1"
    ("PyJWT", "CVE-2017-11424", "1.5.1"),  # "In PyJWT 1.5.0 and below"; found via egg-info
    ("golang.org/x/text", "CVE-2021-38561", "0.3.7"),  # GO-2021-0113
    ("golang.org/x/net", "CVE-2022-41723", "0.7.0"),  # GO-2023-1571, HPACK decoding
    ("smallvec", "CVE-2019-15551", "0.6.10"),  # RUSTSEC-2019-0009, "before 0.6.10"
    ("regex", "CVE-2022-24713", "1.5.5"),  # RUSTSEC-2022-0013, "before 1.5.5"
    ("lodash", "CVE-2018-3721", "4.17.5"),  # NSWG-ECO-368, "<4.17.5"
    ("moment", "CVE-2016-4055", "2.11.2"),  # NSWG-ECO-55, "<2.11.2"
    # "<=" advisories: the upgrade target is the advisory's patched_versions ">=X"
    ("marked", "NSWG-ECO-101", "0.3.6"),
    ("jquery", "NSWG-ECO-328", "3.0.0"),
]


@pytest.mark.parametrize(("package", "vid", "fixed"), KNOWN)
def test_known_vulnerable_language_packages(
    langs_result: tuple[SBOM, MatchResult], package: str, vid: str, fixed: str
) -> None:
    sbom, result = langs_result
    f = find(result.findings, package, vid)
    assert f.fixed_versions[0] == fixed
    installed = {p.name.lower(): p for p in sbom.packages}[package.lower()]
    assert f.package_version == installed.version and f.layer == installed.layer
    assert f.locations == installed.locations


def test_exclusive_patched_bound_is_not_guessed(langs_result: tuple[SBOM, MatchResult]) -> None:
    # NSWG-ECO-46 (ms <= 0.7.0) names its fix only as ">0.7.0": affected, no fixed version invented.
    _, result = langs_result
    f = find(result.findings, "ms", "CVE-2015-8315")
    assert f.fixed_versions == () and f.status.value == "not-fixed"


def test_go_toolchain_is_matched_as_stdlib(langs_result: tuple[SBOM, MatchResult]) -> None:
    sbom, result = langs_result
    stdlib = [p for p in sbom.packages if p.name == "stdlib"]
    assert stdlib, "the Go binary's toolchain should be in the SBOM as stdlib"
    # CVE-2023-29403 (GO-2023-1840): fixed in go1.19.10 and go1.20.5; the fixture is built by 1.19.
    f = find(result.findings, "stdlib", "CVE-2023-29403")
    assert f.fixed_versions == ("1.19.10",)


def test_every_language_finding_is_inside_its_advisory(
    db: VulnDB, langs_result: tuple[SBOM, MatchResult]
) -> None:
    """No false alarms: each finding's installed version is below every fixed version it names."""
    from imgsec.match.versions import parse_version

    _, result = langs_result
    assert result.findings and result.skipped == {}
    for f in result.findings:
        for fixed in f.fixed_versions:
            assert parse_version(f.ecosystem, f.package_version) < parse_version(f.ecosystem, fixed), f
    names = [(f.package_name, f.package_version, n) for f in result.findings for n in (f.id, *f.aliases)]
    assert len(names) == len(set(names)), "one finding per vulnerability per package"


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_bookworm_through_source_packages_agrees_with_dpkg(db: VulnDB) -> None:
    sbom = sbom_of(bookworm())
    debs = [p for p in sbom.packages if p.type is PackageType.DEB]
    tracker = json.loads((VULNDATA / "debian" / "tracker.json").read_text())
    # Many binaries are only reachable through their source package (libc6 -> glibc).
    via_source = [p for p in debs if p.source_name and p.source_name != p.name and p.source_name in tracker]
    assert len(via_source) >= 5
    expected = set()
    for p in debs:
        for cve, info in tracker.get(p.source_name or p.name, {}).items():
            entry = info["releases"].get("bookworm", {})
            fixed = entry.get("fixed_version")
            if entry.get("status") != "resolved" or fixed in (None, "0"):
                continue
            if (
                subprocess.run(["dpkg", "--compare-versions", p.version, "lt", fixed], check=False).returncode
                == 0
            ):
                expected.add((p.name, cve))
    result = Matcher(db).match(sbom.packages, sbom.distro)
    got = {(f.package_name, f.id) for f in result.findings if f.package_type == "deb"}
    assert got == expected


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_older_bookworm_packages_are_found_through_source_packages(db: VulnDB) -> None:
    """The fixture is up to date (no findings); rewind each package to just below one of its
    source's fixes and let dpkg decide which of the source's CVEs then apply."""
    import dataclasses

    sbom = sbom_of(bookworm())
    tracker = json.loads((VULNDATA / "debian" / "tracker.json").read_text())
    older = []
    for p in sbom.packages:
        entries = tracker.get(p.source_name or p.name, {})
        fixes = sorted({e["releases"]["bookworm"]["fixed_version"] for e in entries.values()} - {"0"})
        if p.type is PackageType.DEB and fixes:
            version = fixes[len(fixes) // 2] + "~0"  # "~" sorts just below the fix itself
            older.append(dataclasses.replace(p, version=version, source_version=version))
    assert len(older) >= 20
    expected = set()
    for p in older:
        for cve, info in tracker[p.source_name or p.name].items():
            fixed = info["releases"]["bookworm"]["fixed_version"]
            if (
                subprocess.run(["dpkg", "--compare-versions", p.version, "lt", fixed], check=False).returncode
                == 0
            ):
                expected.add((p.name, cve, fixed))
    result = Matcher(db).match(older, sbom.distro)
    got = {(f.package_name, f.id, f.fixed_versions[0]) for f in result.findings}
    assert expected and got == expected
