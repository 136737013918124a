"""``imgsec scan`` run as a user runs it, against the embedded demo image and a database built from
the shared offline mirror with ``imgsec db update``.

Expected findings come from the advisory data itself: the Debian tracker's fixed versions compared
with the installed source versions by ``dpkg --compare-versions``, and the PyPI OSV records'
ranges evaluated with ``packaging`` (PyPA's own version rules).
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
from packaging.version import InvalidVersion, Version

from imgsec.demo import build_demo_image

VULNDATA = Path(
    os.environ.get("IMGSEC_VULNDATA", Path(__file__).resolve().parents[3] / "shared" / "vulndata")
)
IMGSEC = Path(sys.executable).parent / "imgsec"
SYFT = Path(sys.executable).parent / "syft"

pytestmark = pytest.mark.skipif(not VULNDATA.is_dir(), reason="offline mirror not present")

# The demo image's dpkg records (imgsec.demo): binary package -> (source, source version).
DEMO_DPKG = {
    "libssl3": ("openssl", "3.0.9-1"),
    "openssl": ("openssl", "3.0.9-1"),
    "tar": ("tar", "1.34+dfsg-1.2"),
    "zlib1g": ("zlib", "1:1.2.13.dfsg-1"),
    "libc6": ("glibc", "2.36-9"),
    "bash": ("bash", "5.2.15-2"),
}


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("scan-e2e")
    cache = root / "cache"
    res = run("db", "update", "--mirror", str(VULNDATA), "--cache-dir", str(cache), "-q")
    assert res.returncode == 0, res.stderr
    layout = build_demo_image(root / "demo-cache")
    return {"root": root, "cache": str(cache), "image": f"oci:{layout}:demo"}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    return subprocess.run(
        [str(IMGSEC), *args], capture_output=True, text=True, env=base, cwd=cwd, timeout=300, check=False
    )


def scan(env: dict[str, Any], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run("scan", env["image"], "--cache-dir", env["cache"], "--scanners", "vuln", *args, cwd=cwd)


def scan_json(env: dict[str, Any], *args: str) -> dict[str, Any]:
    res = scan(env, "-f", "json", *args)
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def pairs(doc: dict[str, Any], kind: str | None = None) -> set[tuple[str, str]]:
    return {
        (f["package_name"], f["id"])
        for f in doc["findings"]
        if f["kind"] == "vulnerability" and (kind is None or f["package_type"] == kind)
    }


def dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def tracker_expectation() -> set[tuple[str, str]]:
    tracker = json.loads((VULNDATA / "debian" / "tracker.json").read_text())
    out = set()
    for binary, (source, version) in DEMO_DPKG.items():
        for cve, info in tracker.get(source, {}).items():
            bookworm = info.get("releases", {}).get("bookworm", {})
            fixed = bookworm.get("fixed_version")
            if bookworm.get("status") == "resolved" and fixed and dpkg_lt(version, fixed):
                out.add((binary, cve))
    return out


def _pypi_affected(record: dict[str, Any], name: str, version: Version) -> bool:
    for aff in record.get("affected", []):
        pkg = aff.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or pkg.get("name", "").lower() != name:
            continue
        if aff.get("versions") and str(version) in aff["versions"]:
            return True
        for rng in aff.get("ranges", []):
            if rng.get("type") != "ECOSYSTEM":
                continue
            affected = False
            for ev in sorted(
                rng.get("events", []),
                key=lambda e: Version("0") if e.get("introduced") == "0" else _v(next(iter(e.values()))),
            ):
                if "introduced" in ev and version >= (
                    Version("0") if ev["introduced"] == "0" else _v(ev["introduced"])
                ):
                    affected = True
                if "fixed" in ev and version >= _v(ev["fixed"]):
                    affected = False
                if "last_affected" in ev and version > _v(ev["last_affected"]):
                    affected = False
            if affected:
                return True
    return False


def _v(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def osv_expectation(name: str, version: str) -> list[set[str]]:
    """For each PyPI record affecting ``name==version``: its id and aliases."""
    out = []
    with zipfile.ZipFile(VULNDATA / "osv" / "PyPI" / "all.zip") as zf:
        for member in zf.namelist():
            rec = json.loads(zf.read(member))
            if rec.get("withdrawn"):
                continue
            if _pypi_affected(rec, name, Version(version)):
                out.append({rec["id"], *rec.get("aliases", [])})
    return out


# --- what is found ----------------------------------------------------------------------------------


def test_debian_findings_are_the_trackers_fixes_above_the_installed_version(env: dict[str, Any]) -> None:
    expected = tracker_expectation()
    assert ("libssl3", "CVE-2024-5535") in expected  # sanity: the oracle sees the well-known one
    assert pairs(scan_json(env), "deb") == expected


def test_pypi_findings_cover_every_osv_record_for_jinja2(env: dict[str, Any]) -> None:
    records = osv_expectation("jinja2", "2.10")
    assert records
    found = [
        {f["id"], *f["aliases"]} for f in scan_json(env)["findings"] if f.get("package_name") == "jinja2"
    ]
    for ids in records:
        assert any(ids & f for f in found), f"no finding for {sorted(ids)}"
    for f in found:
        assert any(ids & f for ids in records), f"finding {sorted(f)} has no record"


# --- formats ------------------------------------------------------------------------------------------


def test_every_format(env: dict[str, Any], tmp_path: Path) -> None:
    doc = scan_json(env)
    n = len(doc["findings"])
    assert n > 50

    sarif = scan(env, "-f", "sarif")
    assert sarif.returncode == 0, sarif.stderr
    log = json.loads(sarif.stdout)
    assert log["version"] == "2.1.0"
    assert len(log["runs"][0]["results"]) == n

    cdx = scan(env, "-f", "cyclonedx", "-o", str(tmp_path / "bom.json"))
    assert cdx.returncode == 0 and cdx.stdout == ""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = (tmp_path / "bom.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert {(v["id"]) for v in bom["vulnerabilities"]} == {f["id"] for f in doc["findings"]}

    page = scan(env, "-f", "html")
    assert page.returncode == 0
    assert page.stdout.startswith("<!DOCTYPE html>")
    assert page.stdout.count('<tr class="sev-') >= n

    table = scan(env, "-f", "table")
    assert table.returncode == 0
    assert "CVE-2024-5535" in table.stdout and "libssl3" in table.stdout


def test_table_rows_stay_one_line(env: dict[str, Any]) -> None:
    table = scan(env, "-f", "table").stdout
    rows = [ln for ln in table.splitlines() if ln.startswith("│")]
    findings = scan_json(env)["findings"]
    assert len(rows) == len(findings)  # one line per finding: nothing folded onto a second line
    assert all(len(ln) <= 120 for ln in table.splitlines())


# --- filters and exit codes -----------------------------------------------------------------------------


def test_severity_filter(env: dict[str, Any]) -> None:
    everything = scan_json(env)
    critical = scan_json(env, "--severity", "CRITICAL")
    assert critical["findings"]
    assert {f["severity"] for f in critical["findings"]} == {"CRITICAL"}
    assert len(critical["findings"]) == everything["summary"]["CRITICAL"]


def test_ignore_unfixed(env: dict[str, Any]) -> None:
    everything = scan_json(env)
    fixed = scan_json(env, "--ignore-unfixed")
    assert all(f["fixed_versions"] and f["status"] == "fixed" for f in fixed["findings"])
    assert len(fixed["findings"]) == len(
        [f for f in everything["findings"] if f["fixed_versions"] and f["status"] == "fixed"]
    )


def test_fail_on_and_exit_code(env: dict[str, Any]) -> None:
    assert scan(env, "-f", "json").returncode == 0  # no threshold, no failure
    assert scan(env, "-f", "json", "--fail-on", "HIGH").returncode == 1
    assert scan(env, "-f", "json", "--fail-on", "HIGH", "--exit-code", "7").returncode == 7
    # Nothing at or above CRITICAL survives a LOW-only view.
    assert scan(env, "-f", "json", "--severity", "LOW", "--fail-on", "CRITICAL").returncode == 0
    bad = scan(env, "-f", "json", "--fail-on", "SEVERE")
    assert bad.returncode == 2 and "--fail-on" in bad.stderr


def _critical_ids(env: dict[str, Any]) -> set[str]:
    return {f["id"] for f in scan_json(env, "--severity", "CRITICAL")["findings"]}


def test_plain_ignore_file_with_an_expired_entry(env: dict[str, Any], tmp_path: Path) -> None:
    critical = sorted(_critical_ids(env))
    assert critical
    ignore = tmp_path / ".imgsecignore"
    lines = [f"{cid}   # reviewed" for cid in critical[1:]]
    lines.append(f"{critical[0]} exp:2000-01-01   # expired long ago: reported again")
    ignore.write_text("\n".join(lines) + "\n")
    res = scan(
        env, "-f", "json", "--severity", "CRITICAL", "--ignore-file", str(ignore), "--fail-on", "CRITICAL"
    )
    doc = json.loads(res.stdout)
    assert {f["id"] for f in doc["findings"]} == {critical[0]}
    assert res.returncode == 1  # the expired entry's finding still fails the build
    # The default file in the working directory is read too.
    ignore.write_text("\n".join(f"{cid}" for cid in critical) + "\n")
    res = scan(env, "-f", "json", "--severity", "CRITICAL", "--fail-on", "CRITICAL", cwd=tmp_path)
    assert res.returncode == 0, res.stdout[:500]
    reasons = {
        s["reason"].split(":")[0] for s in json.loads(res.stdout)["suppressed"] if s["reason"] != "severity"
    }
    assert reasons == {"ignore-file .imgsecignore"}


def test_yaml_ignore_file_scoped_to_a_package(env: dict[str, Any], tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: CVE-2024-5535\n"
        "    reason: libssl3 is only used by the CLI here\n"
        "    packages: [libssl3]\n"
        "  - id: CVE-2024-6119\n"
        "    expires: 2001-01-01\n"
    )
    doc = scan_json(env, "--ignore-file", str(ignore))
    left = pairs(doc)
    assert ("libssl3", "CVE-2024-5535") not in left
    assert ("openssl", "CVE-2024-5535") in left  # other package: still reported
    assert ("libssl3", "CVE-2024-6119") in left  # expired: still reported
    why = [s["reason"] for s in doc["suppressed"] if s["finding"]["id"] == "CVE-2024-5535"]
    assert why == ["ignore-file ignore.yaml[0]: libssl3 is only used by the CLI here"]


def test_openvex_suppresses_and_the_exit_code_follows(env: dict[str, Any], tmp_path: Path) -> None:
    critical = _critical_ids(env)
    findings = scan_json(env, "--severity", "CRITICAL")["findings"]
    statements = [
        {
            "vulnerability": {"name": f["id"]},
            "products": [{"@id": f["purl"].split("?")[0].rsplit("@", 1)[0]}],  # every version
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }
        for f in findings
    ]
    vex = tmp_path / "app.openvex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://openvex.dev/docs/example/vex-e2e",
                "author": "e2e",
                "timestamp": "2025-01-01T00:00:00Z",
                "version": 1,
                "statements": statements,
            }
        )
    )
    assert scan(env, "-f", "json", "--fail-on", "CRITICAL").returncode == 1
    res = scan(env, "-f", "json", "--fail-on", "CRITICAL", "--vex", str(vex))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert not {f["id"] for f in doc["findings"]} & critical
    reasons = {s["reason"] for s in doc["suppressed"]}
    assert reasons == {f"vex: not_affected (vulnerable_code_not_in_execute_path) from {vex}"}
    # The same document as CycloneDX VEX would say in SARIF: kept, marked suppressed.
    sarif = json.loads(scan(env, "-f", "sarif", "--vex", str(vex)).stdout)
    marked = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert len(marked) == len(findings)


def test_cyclonedx_vex_by_purl(env: dict[str, Any], tmp_path: Path) -> None:
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "vulnerabilities": [
                    {
                        "id": "CVE-2024-5535",
                        "analysis": {"state": "false_positive", "detail": "demo records only"},
                        "affects": [{"ref": "pkg:deb/debian/openssl@3.0.9-1"}],
                    }
                ],
            }
        )
    )
    left = pairs(scan_json(env, "--vex", str(vex)))
    assert ("openssl", "CVE-2024-5535") not in left
    assert ("libssl3", "CVE-2024-5535") in left


def test_bad_vex_is_exit_2_with_one_line(env: dict[str, Any], tmp_path: Path) -> None:
    vex = tmp_path / "broken.json"
    vex.write_text('{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [')
    res = scan(env, "-f", "json", "--vex", str(vex))
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "malformed JSON" in lines[0] and str(vex) in lines[0]


# --- scanners, SBOM input, database age ------------------------------------------------------------


def test_scanners_vuln_only(env: dict[str, Any]) -> None:
    doc = scan_json(env)
    assert doc["scanners"] == ["vuln"]
    assert {f["kind"] for f in doc["findings"]} == {"vulnerability"}


def test_default_scanners_find_the_deleted_key(env: dict[str, Any]) -> None:
    pytest.importorskip("imgsec.secrets")
    res = run("scan", env["image"], "--cache-dir", env["cache"], "-f", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    secrets = [f for f in doc["findings"] if f["kind"] == "secret"]
    assert any("root/.aws/credentials" in json.dumps(f) for f in secrets)
    assert "AKIAIOSFODNN7EXAMPLE" not in res.stdout  # shown redacted


def test_sbom_from_imgsec_json(env: dict[str, Any], tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    res = run("sbom", env["image"], "-f", "json", "-o", str(sbom))
    assert res.returncode == 0, res.stderr
    from_sbom = run("scan", "--sbom", str(sbom), "--cache-dir", env["cache"], "-f", "json")
    assert from_sbom.returncode == 0, from_sbom.stderr
    assert pairs(json.loads(from_sbom.stdout)) == pairs(scan_json(env))


@pytest.mark.skipif(not SYFT.exists(), reason="syft not installed")
def test_sbom_from_syft_cyclonedx(env: dict[str, Any], tmp_path: Path) -> None:
    layout = env["image"][len("oci:") : -len(":demo")]
    out = tmp_path / "syft.cdx.json"
    res = subprocess.run(
        [str(SYFT), f"oci-dir:{layout}", "-o", f"cyclonedx-json={out}", "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    scanned = run("scan", "--sbom", str(out), "--cache-dir", env["cache"], "-f", "json")
    assert scanned.returncode == 0, scanned.stderr
    got = pairs(json.loads(scanned.stdout), "deb")
    # syft reads the same dpkg records, so the Debian findings are the tracker's.
    assert got == tracker_expectation()


def test_db_max_age_fails_with_a_clear_message(env: dict[str, Any]) -> None:
    import time

    time.sleep(1.1)
    res = scan(env, "-f", "json", "--db-max-age", "1s")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "older than the allowed maximum" in lines[0] and "imgsec db update" in lines[0]
    assert shutil.which("dpkg")  # (the oracle above needs it; Debian has it)


def test_openvex_about_the_whole_image_needs_that_image(env: dict[str, Any], tmp_path: Path) -> None:
    doc = scan_json(env)
    digest = doc["image"]["manifestDigest"]
    target = doc["findings"][0]

    def vex_for(product: str) -> Path:
        path = tmp_path / "image.openvex.json"
        statement = {
            "vulnerability": {"name": target["id"]},
            "products": [{"@id": product}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }
        path.write_text(
            json.dumps(
                {
                    "@context": "https://openvex.dev/ns/v0.2.0",
                    "@id": "https://openvex.dev/docs/example/vex-image",
                    "author": "e2e",
                    "timestamp": "2025-01-01T00:00:00Z",
                    "version": 1,
                    "statements": [statement],
                }
            )
        )
        return path

    def still_reported(product: str) -> bool:
        left = scan_json(env, "--vex", str(vex_for(product)))
        return any(f["id"] == target["id"] and f["purl"] == target["purl"] for f in left["findings"])

    assert not still_reported(f"pkg:oci/app@{digest.replace(':', '%3A')}")  # this image, by digest
    assert still_reported(f"pkg:oci/app@sha256%3A{'0' * 64}")  # another image
    assert still_reported("pkg:oci/app")  # a bare name cannot identify a local layout
