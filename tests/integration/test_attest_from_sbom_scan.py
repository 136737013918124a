"""``imgsec sbom --attest`` and ``imgsec scan --attest`` run as a user runs them.

The image is pushed to a real ``docker-registry`` (and also kept as an OCI layout); the attestation is
then checked with ``imgsec verify-attestation``, whose DSSE/in-toto checks are tested against cosign's
own output in ``test_sign_go_compat.py``.  Expected packages and findings come from what the test wrote
into the image and the hand-written OSV record, not from imgsec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.registry import RegistryServer, build_layout, skopeo_push
from tests.unit.ocihelp import Entry, make_tar, write_layout

pytestmark = pytest.mark.integration

IMGSEC = str(Path(sys.executable).with_name("imgsec"))
PASSWORD = "attest-pw"

DPKG_STATUS = b"""Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
"""
AXIOS = json.dumps({"name": "axios", "version": "1.5.0"}).encode()
FILES = {
    "var/lib/dpkg/status": DPKG_STATUS,
    "usr/lib/node_modules/axios/package.json": AXIOS,
}
EXPECTED = {("base-files", "12.4+deb12u5"), ("zlib1g", "1:1.2.13.dfsg-1"), ("axios", "1.5.0")}
# GHSA-wf5p-g6vw-rhxx (CVE-2023-45857): axios from 0.8.1, fixed in 1.6.0; 1.5.0 is affected.
OSV = {
    "id": "GHSA-wf5p-g6vw-rhxx",
    "aliases": ["CVE-2023-45857"],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "axios"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.8.1"}, {"fixed": "1.6.0"}]}],
        }
    ],
}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMGSEC_", "COSIGN_"))}
    env["IMGSEC_PASSWORD"] = PASSWORD
    return subprocess.run(
        [IMGSEC, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key pair and a vulnerability database holding only the OSV record above."""
    base = tmp_path_factory.mktemp("attest")
    assert run(["key", "generate"], base).returncode == 0
    record = base / "GHSA-wf5p-g6vw-rhxx.json"
    record.write_text(json.dumps(OSV))
    res = run(["db", "import", str(record), "--cache-dir", str(base / "cache")], base)
    assert res.returncode == 0, res.stderr
    return base


def _verified(image: str, type_name: str, work: Path, *extra: str) -> list[dict[str, Any]]:
    res = run(
        ["verify-attestation", image, "--key", "cosign.pub", "--type", type_name, "-f", "json", *extra],
        work,
    )
    assert res.returncode == 0, res.stderr
    statements: list[dict[str, Any]] = json.loads(res.stdout)
    return statements


def _cyclonedx_packages(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["name"], c["version"]) for c in doc.get("components", []) if c.get("type") == "library"}


def _spdx_packages(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["name"], p["versionInfo"]) for p in doc["packages"] if "versionInfo" in p} - {
        (p["name"], p["versionInfo"])
        for p in doc["packages"]
        if p.get("primaryPackagePurpose") == "CONTAINER"
    }


def test_sbom_and_scan_attest_to_a_registry_image(
    registry_plain: RegistryServer, work: Path, tmp_path: Path
) -> None:
    built = build_layout(tmp_path / "layout", tag="v1", layers=(FILES,))
    ref = skopeo_push(built, registry_plain, f"team/att-{uuid.uuid4().hex[:8]}")
    tls = ["--insecure"]

    res = run(["sbom", ref, "-f", "cyclonedx", "--attest", "--key", "cosign.key", *tls], work)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert _cyclonedx_packages(printed) == EXPECTED
    assert "Pushed attestation to" in res.stderr

    (statement,) = _verified(ref, "cyclonedx", work, *tls)
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["subject"][0]["digest"] == {"sha256": built.top_digest.split(":")[1]}
    assert _cyclonedx_packages(statement["predicate"]) == EXPECTED

    cache = str(work / "cache")
    res = run(
        ["scan", ref, "-f", "json", "--cache-dir", cache, "--attest", "--key", "cosign.key", *tls], work
    )
    assert res.returncode == 0, res.stderr
    (vuln,) = _verified(ref, "vuln", work, *tls)
    assert vuln["predicateType"] == "https://cosign.sigstore.dev/attestation/vuln/v1"
    predicate = vuln["predicate"]
    # cosign's CosignVulnPredicate fields (pkg/cosign/attestation/attestation.go).
    assert set(predicate) == {"invocation", "scanner", "metadata"}
    assert set(predicate["metadata"]) == {"scanStartedOn", "scanFinishedOn"}
    assert predicate["metadata"]["scanStartedOn"] <= predicate["metadata"]["scanFinishedOn"]
    assert {"uri", "version", "db", "result"} <= set(predicate["scanner"])
    findings = predicate["scanner"]["result"]["findings"]
    vulns = [(f["id"], f["package_name"]) for f in findings if f["kind"] == "vulnerability"]
    assert len(vulns) == 1
    assert vulns[0][0] in {"GHSA-wf5p-g6vw-rhxx", "CVE-2023-45857"}  # the record's id or its alias
    assert vulns[0][1] == "axios"
    assert cache not in json.dumps(predicate)  # no local paths in what is published

    # Both attestations are now attached; --type picks each one.
    assert len(_verified(ref, "cyclonedx", work, *tls)) == 1


def test_sbom_attest_spdx_to_an_oci_layout(work: Path, tmp_path: Path) -> None:
    layout = tmp_path / "oci"
    write_layout(layout, [make_tar([Entry(name, data) for name, data in FILES.items()])], tag="t")
    image = f"oci:{layout}:t"
    res = run(
        [
            "sbom",
            image,
            "-f",
            "table",
            "--attest",
            "--type",
            "spdxjson",
            "--key",
            "cosign.key",
            "--identity",
            "example.com/team/app",
        ],
        work,
    )
    assert res.returncode == 0, res.stderr
    assert "axios" in res.stdout  # the chosen output format is still what is printed
    (statement,) = _verified(image, "spdxjson", work)
    assert statement["predicateType"] == "https://spdx.dev/Document"
    assert statement["subject"][0]["name"] == "example.com/team/app"
    assert _spdx_packages(statement["predicate"]) == EXPECTED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sbom", "dir:.", "--attest", "--key", "cosign.key"], "cannot hold attestations"),
        (["scan", "oci-archive:x.tar", "--attest", "--key", "cosign.key"], "cannot hold attestations"),
        (["sbom", "oci:layout", "--attest", "--key", "cosign.key"], "--identity"),
        (["sbom", "example.com/a:b", "--attest"], "--key"),
        (["sbom", "example.com/a:b", "--key", "cosign.key"], "only apply with --attest"),
        (["sbom", "example.com/a:b", "--attest", "--key", "cosign.key", "--type", "vuln"], "--type"),
        (["sbom", "example.com/a:b", "--attest", "--key", "missing.key"], "cannot read key file"),
        (["scan", "--sbom", "x.json", "--attest", "--key", "cosign.key"], "needs an IMAGE"),
    ],
)
def test_refused_before_any_work(work: Path, args: list[str], message: str) -> None:
    res = run(args, work)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
