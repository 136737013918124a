"""Jenkins plugins (``.hpi``/``.jpi``) are typed ``jenkins-plugin`` as syft 1.18 types them, end to end.

The archives are real (the JDK's ``jar`` tool, :mod:`tests.unit.jenkinshelp`); the oracle is the
real syft run on the same tree; the advisory comes through the real OSV importer and ``imgsec db
update``; the scan is the ``imgsec`` command a user runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from imgsec.match.matcher import match_packages
from imgsec.sbom.catalogers.java import JavaArchiveCataloger
from imgsec.sbom.formats import read_sbom, render
from imgsec.sbom.model import SBOM, ImageSummary, Package, PackageType
from imgsec.vulndb.store import VulnDB
from imgsec.vulndb.update import build_database
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import SYFT, syft_dir_artifacts
from tests.unit.jenkinshelp import DETACHED, NOTIFIER, TIMESTAMPER, plugin_tree

IMGSEC = Path(sys.executable).parent / "imgsec"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "src" / "imgsec" / "data" / "sbom.schema.json"
Row = tuple[str, str, str, str, str]


@pytest.fixture(scope="module")
def tree() -> Path:
    return plugin_tree()


@pytest.fixture(scope="module")
def ours(tree: Path) -> list[Package]:
    return catalog_dir(JavaArchiveCataloger(), tree)


def rows(packages: list[Package]) -> set[Row]:
    return {(p.meta("virtualPath") or "", str(p.type), p.name, p.version, p.purl) for p in packages}


def test_same_packages_as_syft(tree: Path, ours: list[Package]) -> None:
    theirs = {
        (a["metadata"]["virtualPath"].lstrip("/"), a["type"], a["name"], a["version"], a["purl"])
        for a in syft_dir_artifacts(tree)
    }
    assert rows(ours) == theirs
    # The comparison is about types: the tree holds both kinds, so an all-java-archive answer fails.
    assert {t for _, t, *_ in theirs} == {"jenkins-plugin", "java-archive"}


def test_where_the_plugin_type_comes_from(ours: list[Package]) -> None:
    by_path = {p.meta("virtualPath"): p for p in ours}
    plugins = "var/jenkins_home/plugins/"
    g, a, v = NOTIFIER
    hpi = by_path[f"{plugins}{a}.hpi"]
    assert (hpi.type, hpi.name, hpi.version) == (PackageType.JENKINS_PLUGIN, a, v)
    assert hpi.purl == f"pkg:maven/{g}/{a}@{v}"  # a plugin is a Maven artifact
    # A third-party jar bundled in the plugin is a plain Java archive.
    bundled = by_path[f"{plugins}{a}.hpi:WEB-INF/lib/commons-text-1.10.0.jar"]
    assert bundled.type is PackageType.JAVA_ARCHIVE
    # The .jpi extension alone makes a plugin (no pom.properties); group from the Group-Id field.
    g, a, v = TIMESTAMPER
    jpi = by_path[f"{plugins}{a}.jpi"]
    assert (jpi.type, jpi.purl) == (PackageType.JENKINS_PLUGIN, f"pkg:maven/{g}/{a}@{v}")
    # A plugin nested in a war (jenkins.war's detached plugins); the war itself is not one.
    g, a, v = DETACHED
    assert by_path[f"usr/share/java/jenkins.war:WEB-INF/detached-plugins/{a}.hpi"].type is (
        PackageType.JENKINS_PLUGIN
    )
    assert by_path["usr/share/java/jenkins.war"].type is PackageType.JAVA_ARCHIVE
    # The archive's own pom.properties decides over the extension, both ways.
    assert by_path[f"{plugins}odd-1.0.hpi"].type is PackageType.JAVA_ARCHIVE
    assert by_path["opt/tools/jenkins-glue-2.0.jar"].type is PackageType.JENKINS_PLUGIN


def _syft_document(tree: Path, fmt: str, out: Path) -> Path:
    subprocess.run(
        [str(SYFT), f"dir:{tree}", "--override-default-catalogers", "image", "-o", f"{fmt}={out}", "-q"],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    )
    return out


def _identity(packages: tuple[Package, ...] | list[Package]) -> list[tuple[str, str, str, str]]:
    return sorted((str(p.type), p.name, p.version, p.purl) for p in packages)


@pytest.mark.parametrize("fmt", ["syft-json", "cyclonedx-json", "spdx-json"])
def test_syft_documents_read_back_as_jenkins_plugins(
    tree: Path, ours: list[Package], fmt: str, tmp_path: Path
) -> None:
    # syft marks the type in its own field (syft JSON), a syft:package:type property (CycloneDX) and
    # the SPDX id (SPDXRef-Package-jenkins-plugin-...): all three must come back as syft wrote them.
    sbom = read_sbom(_syft_document(tree, fmt, tmp_path / "sbom.json"))
    assert _identity(sbom.packages) == _identity(ours)


def _plugin_sbom(packages: list[Package]) -> SBOM:
    image = ImageSummary(
        name="registry.example/jenkins:lts",
        manifest_digest=None,
        config_digest=None,
        os=None,
        architecture=None,
    )
    return SBOM(image=image, distro=None, packages=tuple(packages))


@pytest.mark.parametrize("fmt", ["json", "cyclonedx", "spdx"])
def test_imgsec_documents_round_trip(ours: list[Package], fmt: str) -> None:
    text = render(_plugin_sbom(ours), fmt, created=datetime(2024, 1, 1, tzinfo=UTC))
    back = read_sbom(text.encode())
    assert _identity(back.packages) == _identity(ours)
    if fmt == "json":
        jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(json.loads(text))


def test_spdx_id_hint_needs_a_maven_purl(ours: list[Package]) -> None:
    # The SPDX id names a type only for a purl that is ambiguous; an npm purl stays npm.
    doc = json.loads(render(_plugin_sbom(ours), "spdx", created=datetime(2024, 1, 1, tzinfo=UTC)))
    plugin = next(p for p in doc["packages"] if p["SPDXID"].startswith("SPDXRef-Package-jenkins-plugin-"))
    for ref in plugin["externalRefs"]:
        if ref["referenceType"] == "purl":
            ref["referenceLocator"] = "pkg:npm/left-pad@1.3.0"
    types = {(str(p.type), p.purl) for p in read_sbom(json.dumps(doc).encode()).packages}
    assert ("npm", "pkg:npm/left-pad@1.3.0") in types


# --- matching: Jenkins plugin advisories live in OSV's Maven ecosystem ----------------------------


def _record(vid: str, name: str, fixed: str) -> dict[str, Any]:
    return {
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": [],
        "summary": f"test advisory for {name}",
        "affected": [
            {
                "package": {"ecosystem": "Maven", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


# imgsec-notifier 1.4.2 is below the fix 1.5: affected.  imgsec-detached 3.1 is not below 3.0.
# The same artifact name under another group (io.jenkins.plugins) is another package.
RECORDS = [
    _record("GHSA-jjjj-0001-0001", f"{NOTIFIER[0]}:{NOTIFIER[1]}", "1.5"),
    _record("GHSA-jjjj-0002-0002", f"{DETACHED[0]}:{DETACHED[1]}", "3.0"),
    _record("GHSA-jjjj-0003-0003", f"io.jenkins.plugins:{NOTIFIER[1]}", "9.0"),
]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jenkins-mirror")
    (root / "osv" / "Maven").mkdir(parents=True)
    with zipfile.ZipFile(root / "osv" / "Maven" / "all.zip", "w") as zf:
        for r in RECORDS:
            zf.writestr(f"{r['id']}.json", json.dumps(r))
    return root


@pytest.fixture(scope="module")
def db(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnDB]:
    path = tmp_path_factory.mktemp("jenkins-db") / "imgsec.db"
    build_database(str(mirror), path)
    with VulnDB(path) as store:
        yield store


def test_plugin_matches_as_a_maven_package(db: VulnDB, ours: list[Package]) -> None:
    findings = match_packages(ours, None, db)
    got = {(f.package_name, f.package_version, f.package_type, f.id) for f in findings}
    assert got == {(NOTIFIER[1], NOTIFIER[2], "jenkins-plugin", "GHSA-jjjj-0001-0001")}


def test_scan_sbom_of_plugins(mirror: Path, tree: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    cache = tmp_path / "cache"

    def imgsec(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(IMGSEC), *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )

    res = imgsec("db", "update", "--mirror", str(mirror), "--cache-dir", str(cache), "-q")
    assert res.returncode == 0, res.stderr
    sbom = _syft_document(tree, "cyclonedx-json", tmp_path / "plugins.cdx.json")
    res = imgsec("scan", "--sbom", str(sbom), "--cache-dir", str(cache), "-f", "json")
    assert res.returncode == 0, res.stderr
    found = {
        (f["package_name"], f["package_version"], f["package_type"], f["id"])
        for f in json.loads(res.stdout)["findings"]
        if f["kind"] == "vulnerability"
    }
    assert found == {(NOTIFIER[1], NOTIFIER[2], "jenkins-plugin", "GHSA-jjjj-0001-0001")}
