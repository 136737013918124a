"""OS catalogers against live oracles on this machine: dpkg-query and syft on the real dpkg database,
rpm on a database it writes here.

The unit tests compare against outputs recorded from these same tools
(``tests/unit/data/os/make_fixtures.sh``); these tests re-ask the tools on whatever the machine has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.dpkg import DpkgCataloger
from imgsec.sbom.catalogers.rpm import RpmCataloger
from imgsec.sbom.distro import DistroDetector, qualify_purls

pytestmark = pytest.mark.integration

STATUS = Path("/var/lib/dpkg/status")
SYFT = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
SPECS = Path(__file__).resolve().parents[1] / "unit" / "data" / "os" / "rpm"


def _dpkg_packages(status: bytes) -> list[tuple[str, str, str, str, str]]:
    pkgs = DpkgCataloger().catalog(FileInfo("var/lib/dpkg/status", 0o644, len(status)), status)
    return [(p.name, p.version, p.source_name or "", p.source_version or "", p.arch or "") for p in pkgs]


@pytest.mark.skipif(not STATUS.is_file() or shutil.which("dpkg-query") is None, reason="needs a dpkg system")
def test_this_machines_status_matches_dpkg_query(tmp_path: Path) -> None:
    # Copy first: other processes may install packages while the test runs.
    admindir = tmp_path / "dpkg"
    admindir.mkdir()
    shutil.copyfile(STATUS, admindir / "status")
    status = (admindir / "status").read_bytes()
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admindir}",
            "-W",
            "-f",
            "${Package} ${Version} ${source:Package} ${source:Version} ${Architecture} ${db:Status-Status}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = set()
    for line in out.splitlines():
        *fields, state = line.split()
        if state not in ("not-installed", "config-files"):
            expected.add(tuple(fields))
    assert set(_dpkg_packages(status)) == expected


@pytest.mark.skipif(not STATUS.is_file() or not Path(SYFT).exists(), reason="needs a dpkg system and syft")
def test_this_machines_status_matches_syft(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copyfile(STATUS, root / "var/lib/dpkg/status")
    os_release = Path("/etc/os-release").read_bytes()
    (root / "etc/os-release").write_bytes(os_release)
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    out = subprocess.run(
        [SYFT, f"dir:{root}", "-o", "syft-json", "-q"], check=True, capture_output=True, text=True, env=env
    ).stdout
    syft = {(a["name"], a["version"], a["purl"]) for a in json.loads(out)["artifacts"] if a["type"] == "deb"}
    status = (root / "var/lib/dpkg/status").read_bytes()
    pkgs = DpkgCataloger().catalog(FileInfo("var/lib/dpkg/status", 0o644, len(status)), status)
    distro = DistroDetector().detect({"etc/os-release": os_release})
    # syft 1.18 also lists config-files/not-installed entries; those are excluded on purpose.
    mine = {(p.name, p.version, p.purl) for p in qualify_purls(pkgs, distro)}
    assert mine <= syft
    assert {name for name, _, _ in syft - mine} <= _not_on_disk(status)


def _not_on_disk(status: bytes) -> set[str]:
    names, name = set(), ""
    for line in status.decode(errors="replace").splitlines():
        if line.startswith("Package:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Status:") and line.split()[-1] in ("not-installed", "config-files"):
            names.add(name)
    return names


@pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="needs rpm and rpmbuild (apt-get install rpm)")
def test_rpm_written_database_matches_rpm_qa(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "SPECS").mkdir(parents=True)
    for spec in SPECS.glob("*.spec"):
        shutil.copy(spec, top / "SPECS")
        subprocess.run(
            ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(top / "SPECS" / spec.name)],
            check=True,
            capture_output=True,
        )
    db = tmp_path / "db"
    db.mkdir()
    subprocess.run(["rpm", "--initdb", "--dbpath", str(db)], check=True, capture_output=True)
    rpms = [str(p) for p in (top / "RPMS").rglob("*.rpm")]
    subprocess.run(
        ["rpm", "-i", "--nodeps", "--justdb", "--noscripts", "--ignorearch", "--dbpath", str(db), *rpms],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["rpm", "-qa", "--dbpath", str(db), "--qf", "%{NAME}|%{EVR}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = {tuple(line.split("|")) for line in out.splitlines()}
    content = (db / "rpmdb.sqlite").read_bytes()
    pkgs = RpmCataloger().catalog(FileInfo("var/lib/rpm/rpmdb.sqlite", 0o644, len(content)), content)
    got = {(p.name, p.version, p.arch or "", p.meta("sourcerpm") or "", " ".join(p.licenses)) for p in pkgs}
    assert got == expected
