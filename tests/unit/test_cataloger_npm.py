"""The npm cataloger against a real node_modules tree installed by npm, with syft 1.18.1 as the reference."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.npm import NpmPackageCataloger
from imgsec.sbom.model import Package, PackageType
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgsec-test-fixtures"
PACKAGES = ("lodash@4.17.4", "@sindresorhus/is@4.6.0", "ms@2.1.3", "JSONStream@1.3.5")


def _install(dest: Path) -> None:
    app = dest / "app"
    app.mkdir(parents=True)
    (app / "package.json").write_text(
        json.dumps({"name": "myapp", "version": "1.0.0", "private": True, "license": "ISC"})
    )
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(app),
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--cache",
            str(CACHE / "npm-cache"),
            *PACKAGES,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def node_tree() -> Path:
    """A real node_modules tree (npm install), built once and cached by the builder's source hash."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    key = hashlib.sha256((inspect.getsource(_install) + repr(PACKAGES)).encode()).hexdigest()[:16]
    root = CACHE / f"npm-tree-{key}"
    if not (root / "app" / "node_modules" / "lodash" / "package.json").exists():
        tmp = CACHE / f".npm-tree-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _install(tmp)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            pytest.skip(f"npm registry unreachable: {exc}")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root


def catalog_tree(root: Path) -> list[Package]:
    return catalog_dir(NpmPackageCataloger(), root)


def syft_packages(root: Path) -> set[tuple[str, str, str, str]]:
    artifacts = syft_dir_artifacts(root)
    return {(a["type"], a["name"], a["version"], a["purl"]) for a in artifacts}


def _keys(packages: list[Package]) -> set[tuple[str, str, str]]:
    return {p.key for p in packages}


def test_same_packages_as_syft(node_tree: Path) -> None:
    ours = catalog_tree(node_tree)
    theirs = {k for k in syft_packages(node_tree) if k[0] == "npm"}
    assert _keys(ours) == {k[:3] for k in theirs}
    # purls agree except where the purl spec lowercases legacy upper-case npm names (syft keeps the case).
    assert {p.purl for p in ours} == {k[3] if k[1].islower() or "/" in k[1] else k[3].lower() for k in theirs}


def test_real_packages_have_the_versions_npm_installed(node_tree: Path) -> None:
    by_name = {p.name: p for p in catalog_tree(node_tree)}
    for spec in PACKAGES:
        name, _, version = spec.rpartition("@")
        assert by_name[name].version == version
        assert by_name[name].type is PackageType.NPM
    assert by_name["@sindresorhus/is"].purl == "pkg:npm/%40sindresorhus/is@4.6.0"
    assert by_name["lodash"].licenses == ("MIT",)
    assert by_name["myapp"].meta("private") == "true"


def test_edge_cases_match_syft(tmp_path: Path) -> None:
    cases = {
        "noversion": '{"name": "nov"}',
        "noname": '{"version": "1.0.0"}',
        "empty": "{}",
        "badname": '{"name": 5, "version": "1"}',
        "badversion": '{"name": "g", "version": 2}',
        "array": "[1, 2]",
        "two-docs": '{"name": "i", "version": "1.0.0"}\n{"name": "i2", "version": "2.0.0"}',
        "spdx": '{"name": "d", "version": "1.0.0", "license": "(MIT OR Apache-2.0)"}',
        "old-licenses": '{"name": "e", "version": "1.0.0", "licenses": [{"type": "MIT"}, {"type": "BSD"}]}',
        "license-object": '{"name": "o", "version": "1.0.0", "license": {"type": "ISC", "url": "x"}}',
        "bad-deps": '{"name": "bd", "version": "1.0.0", "dependencies": {"x": 1}}',
        "scoped": '{"name": "@s/m", "version": "1.0.0-beta.1+build.5"}',
    }
    for directory, text in cases.items():
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "package.json").write_text(text)
    (tmp_path / "bom").mkdir()
    (tmp_path / "bom" / "package.json").write_bytes(b'\xef\xbb\xbf{"name": "bom", "version": "1.0.0"}')
    ours = catalog_tree(tmp_path)
    assert {(str(p.type), p.name, p.version, p.purl) for p in ours} == syft_packages(tmp_path)
    licenses = {p.name: p.licenses for p in ours}
    assert licenses["e"] == ("MIT", "BSD")
    assert licenses["o"] == ("ISC",)


def test_wants_only_package_json() -> None:
    c = NpmPackageCataloger()
    assert c.wants(FileInfo("app/node_modules/a/package.json", 0o644, 1))
    assert c.wants(FileInfo("package.json", 0o644, 1))
    assert not c.wants(FileInfo("app/package-lock.json", 0o644, 1))
    assert not c.wants(FileInfo("app/node_modules/a/mypackage.json", 0o644, 1))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1024),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["name", "version", "license", "licenses", "author", "repository", "x"]),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_never_raises_on_hostile_input(content: bytes) -> None:
    info = FileInfo("node_modules/x/package.json", 0o644, len(content))
    for pkg in NpmPackageCataloger().catalog(info, content):
        assert pkg.name
