"""apk cataloger: a db in the documented format (wiki.alpinelinux.org/wiki/Apk_spec), syft as oracle.

No Alpine mirror or apk-tools is reachable here, so ``data/os/apk/installed`` is written by hand
after a real Alpine 3.19 database; ``syft.jsonl`` is what syft 1.18 reports for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.apk import ApkCataloger
from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.distro import DistroDetector, qualify_purls
from imgsec.sbom.model import Package, PackageType

DATA = Path(__file__).parent / "data" / "os" / "apk"
LAYER = "sha256:" + "cd" * 32
DB_PATH = "lib/apk/db/installed"


def catalog(content: bytes) -> list[Package]:
    return list(ApkCataloger().catalog(FileInfo(DB_PATH, 0o644, len(content), LAYER), content))


def test_wants_only_the_installed_db() -> None:
    cat = ApkCataloger()
    assert cat.wants(FileInfo(DB_PATH, 0o644, 1))
    assert not cat.wants(FileInfo("lib/apk/db/triggers", 0o644, 1))
    assert cat.wants(FileInfo("usr/lib/apk/db/installed", 0o644, 1))
    assert not cat.wants(FileInfo("lib/apk/db/installed.old", 0o644, 1))


def test_matches_syft() -> None:
    syft = [json.loads(line) for line in (DATA / "syft.jsonl").read_text().splitlines()]
    distro = DistroDetector().detect({"etc/os-release": (DATA / "os-release").read_bytes()})
    packages = qualify_purls(catalog((DATA / "installed").read_bytes()), distro)
    assert {(p.name, p.version, p.purl) for p in packages} == {
        (s["name"], s["version"], s["purl"]) for s in syft
    }
    assert {(p.name, tuple(sorted(p.licenses))) for p in packages} == {
        (s["name"], tuple(sorted(s["licenses"]))) for s in syft
    }


def test_origin_is_the_source_package() -> None:
    packages = {p.name: p for p in catalog((DATA / "installed").read_bytes())}
    # o: is the aports origin (the APKBUILD's pkgname); subpackages share their origin's version.
    assert (packages["libcrypto3"].source_name, packages["libcrypto3"].source_version) == (
        "openssl",
        "3.1.4-r5",
    )
    assert packages["musl"].source_name == "musl"
    assert packages["busybox-binsh"].arch == "x86_64"
    for p in packages.values():
        assert p.type is PackageType.APK
        assert p.locations[0].path == DB_PATH
        assert p.layer == LAYER


def test_without_distro_purl_uses_alpine_namespace() -> None:
    (p,) = catalog(b"P:py3-Foo\nV:1.0-r0\nA:aarch64\no:py-foo\n")
    assert p.purl == "pkg:apk/alpine/py3-foo@1.0-r0?arch=aarch64&upstream=py-foo"


def test_missing_origin_and_license_and_no_trailing_blank_line() -> None:
    (p,) = catalog(b"P:solo\nV:2.0-r1")
    assert (p.source_name, p.source_version, p.licenses, p.arch) == ("solo", "2.0-r1", (), None)


def test_file_records_do_not_leak_into_fields() -> None:
    text = b"P:a\nV:1-r0\nF:usr/bin\nR:P:evil\nZ:Q1abc=\n\nP:b\nV:2-r0\n"
    assert [(p.name, p.version) for p in catalog(text)] == [("a", "1-r0"), ("b", "2-r0")]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n",
        b"\x00\x01binary",
        b"V:1.0-r0\n",
        b"P:x\n",
        b"P:bad name\nV:1\n",
        b"P:x\nV:1 2\n",
        b"garbage",
    ],
)
def test_malformed_input_yields_no_packages(content: bytes) -> None:
    assert catalog(content) == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(content: bytes) -> None:
    for p in catalog(content):
        assert p.name and p.version
