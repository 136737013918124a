"""The Python cataloger against real metadata files, with syft 1.18.1 as the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.python import PythonPackageCataloger
from imgsec.sbom.model import Location, Package, PackageType
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

DATA = Path(__file__).parent / "data" / "lang" / "python"


def catalog_tree(root: Path) -> list[Package]:
    return catalog_dir(PythonPackageCataloger(), root)


def syft_packages(root: Path) -> set[tuple[str, str, str, str]]:
    """(type, name, version, purl) of what syft finds when it scans root as an image."""
    artifacts = syft_dir_artifacts(root)
    return {(a["type"], a["name"], a["version"], a["purl"]) for a in artifacts}


def test_same_packages_as_syft() -> None:
    ours = {(str(p.type), p.name, p.version, p.purl) for p in catalog_tree(DATA)}
    assert ours == {k for k in syft_packages(DATA) if k[0] == "python"}


def test_names_are_pep503_normalised_and_purls_follow() -> None:
    by_path = {p.locations[0].path: p for p in catalog_tree(DATA)}
    yaml = by_path["usr/local/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info/METADATA"]
    assert (yaml.name, yaml.version, yaml.purl) == ("pyyaml", "6.0.1", "pkg:pypi/pyyaml@6.0.1")
    assert yaml.meta("name") == "PyYAML"  # the spelling the project uses is kept
    zope = by_path["usr/local/lib/python3.11/site-packages/zope.interface-6.1.dist-info/METADATA"]
    assert zope.purl == "pkg:pypi/zope-interface@6.1"


def test_egg_info_directory_and_file_forms() -> None:
    found = catalog_tree(DATA)
    apt = sorted(p.locations[0].path for p in found if p.name == "python-apt")
    assert apt == [
        "opt/legacy/lib/python3.9/site-packages/python_apt-2.6.0.egg-info",
        "usr/lib/python3/dist-packages/python_apt-2.6.0.egg-info/PKG-INFO",
    ]
    assert all(p.version == "2.6.0" and p.licenses == ("GNU GPL",) for p in found if p.name == "python-apt")


def test_location_and_layer_are_recorded() -> None:
    pkg = catalog_tree(DATA)[0]
    assert pkg.type is PackageType.PYTHON
    assert pkg.layer == "sha256:l1"
    assert pkg.locations == (Location(pkg.locations[0].path, "sha256:l1"),)
    assert pkg.metadata == tuple(sorted(pkg.metadata))


def test_license_expression_wins_over_license(tmp_path: Path) -> None:
    # PEP 639: License-Expression is the authoritative SPDX expression.
    meta = tmp_path / "x-1.0.dist-info" / "METADATA"
    meta.parent.mkdir()
    meta.write_text(
        "Metadata-Version: 2.4\nName: x\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\n"
        "License: some long text\n\nLicense: not-a-header\n"
    )
    (pkg,) = catalog_tree(tmp_path)
    assert pkg.licenses == ("MIT OR Apache-2.0",)
    syft = syft_packages(tmp_path)
    assert {(str(pkg.type), pkg.name, pkg.version, pkg.purl)} == syft


def test_missing_version_is_unknown_like_syft(tmp_path: Path) -> None:
    meta = tmp_path / "site-packages" / "nov.dist-info" / "METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_text("Metadata-Version: 2.1\nName: nov\n")
    ours = {(str(p.type), p.name, p.version, p.purl) for p in catalog_tree(tmp_path)}
    assert ours == syft_packages(tmp_path)


def test_wants_only_metadata_files() -> None:
    c = PythonPackageCataloger()
    yes = [
        "usr/lib/python3/dist-packages/a-1.dist-info/METADATA",
        "usr/lib/python3/dist-packages/a.egg-info/PKG-INFO",
        "usr/lib/python3/dist-packages/a-1.egg-info",
        "app/A-1.DIST-INFO/METADATA",
    ]
    no = [
        "usr/lib/python3/dist-packages/a-1.dist-info/RECORD",
        "usr/lib/python3/dist-packages/a.py",
        "usr/share/doc/METADATA",
        "usr/lib/python3/dist-packages/a.egg-info/SOURCES.txt",
    ]
    assert all(c.wants(FileInfo(p, 0o644, 1)) for p in yes)
    assert not any(c.wants(FileInfo(p, 0o644, 1)) for p in no)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02binary", b"Name:\nVersion: 1\n", b"Version: 1.0\n", b"\xff\xfe\xfa" * 100],
)
def test_hostile_or_empty_metadata_yields_nothing(content: bytes) -> None:
    info = FileInfo("x.dist-info/METADATA", 0o644, len(content))
    assert PythonPackageCataloger().catalog(info, content) == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_never_raises_on_arbitrary_bytes(content: bytes) -> None:
    info = FileInfo("x.dist-info/METADATA", 0o644, len(content))
    for pkg in PythonPackageCataloger().catalog(info, content):
        assert pkg.name
