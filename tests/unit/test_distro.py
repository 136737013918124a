"""Distro detection and distro-qualified purls.

Release-file contents are the ones the distributions ship (os-release(5) for the syntax); the
expected purl forms are syft's (see the dpkg/apk/rpm tests for whole-database comparisons).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from imgsec.sbom.distro import DistroDetector, os_purl, parse_os_release, qualify_purls
from imgsec.sbom.model import Distro, Package, PackageType

DATA = Path(__file__).parent / "data" / "os"

UBUNTU_OS_RELEASE = b"""PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
"""
ALPINE_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
"""
ROCKY_OS_RELEASE = b"""NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
"""


def detect(files: dict[str, bytes]) -> Distro | None:
    return DistroDetector().detect(files)


def test_real_bookworm_files() -> None:
    files = {
        "etc/os-release": (DATA / "dpkg" / "bookworm-os-release").read_bytes(),
        "etc/debian_version": (DATA / "dpkg" / "bookworm-debian_version").read_bytes(),
    }
    assert detect(files) == Distro(
        id="debian",
        version_id="12",
        version_codename="bookworm",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (UBUNTU_OS_RELEASE, Distro("ubuntu", "22.04", "jammy", "Ubuntu 22.04.4 LTS", ("debian",))),
        (ALPINE_OS_RELEASE, Distro("alpine", "3.19.1", None, "Alpine Linux v3.19")),
        (
            ROCKY_OS_RELEASE,
            Distro("rocky", "9.3", None, "Rocky Linux 9.3 (Blue Onyx)", ("rhel", "centos", "fedora")),
        ),
    ],
)
def test_os_release(content: bytes, expected: Distro) -> None:
    assert detect({"usr/lib/os-release": content}) == expected


def test_os_release_syntax() -> None:
    # os-release(5): shell quoting and escapes, comments, blank lines; ID is lowercase.
    text = '# comment\n\nID=\'my-distro\'\nVERSION_ID="1.0"\nPRETTY_NAME="A \\"quoted\\" \\$name"\nJUNK\n'
    assert parse_os_release(text) == Distro(id="my-distro", version_id="1.0", pretty_name='A "quoted" $name')
    assert parse_os_release("NAME=x\nVERSION_ID=1\n") is None
    assert parse_os_release('ID="unterminated\nVERSION_ID=2\n') is None


def test_etc_os_release_wins_over_usr_lib_and_fallbacks() -> None:
    files = {
        "etc/os-release": UBUNTU_OS_RELEASE,
        "usr/lib/os-release": ALPINE_OS_RELEASE,
        "etc/debian_version": b"bookworm/sid\n",
        "etc/alpine-release": b"3.19.1\n",
    }
    assert detect(files) is not None and detect(files) == detect({"etc/os-release": UBUNTU_OS_RELEASE})
    del files["etc/os-release"]
    assert detect(files) == detect({"etc/os-release": ALPINE_OS_RELEASE})


def test_os_release_without_id_falls_through() -> None:
    assert detect({"etc/os-release": b"NAME=x\n", "etc/alpine-release": b"3.18.6\n"}) == Distro(
        id="alpine", version_id="3.18.6", pretty_name="Alpine Linux v3.18.6"
    )


def test_debian_version_fallback() -> None:
    assert detect({"etc/debian_version": b"12.5\n"}) == Distro(
        id="debian", version_id="12", pretty_name="Debian GNU/Linux 12.5"
    )
    assert detect({"etc/debian_version": b"trixie/sid\n"}) == Distro(
        id="debian", version_codename="trixie", pretty_name="Debian GNU/Linux trixie/sid"
    )
    assert detect({"etc/debian_version": b"\x00\x01 garbage here\n"}) is None


def test_ubuntu_without_os_release_uses_lsb_release_not_debian_version() -> None:
    files = {
        "etc/lsb-release": b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n"
        b'DISTRIB_DESCRIPTION="Ubuntu 22.04.4 LTS"\n',
        "etc/debian_version": b"bookworm/sid\n",
    }
    assert detect(files) == Distro(
        id="ubuntu", version_id="22.04", version_codename="jammy", pretty_name="Ubuntu 22.04.4 LTS"
    )


@pytest.mark.parametrize(
    ("path", "content", "distro_id", "version"),
    [
        ("etc/centos-release", b"CentOS Linux release 7.9.2009 (Core)\n", "centos", "7.9.2009"),
        ("etc/redhat-release", b"CentOS release 6.10 (Final)\n", "centos", "6.10"),
        ("etc/redhat-release", b"Red Hat Enterprise Linux Server release 7.9 (Maipo)\n", "rhel", "7.9"),
        ("etc/system-release", b"Amazon Linux release 2 (Karoo)\n", "amzn", "2"),
    ],
)
def test_redhat_family_release_files(path: str, content: bytes, distro_id: str, version: str) -> None:
    distro = detect({path: content})
    assert distro is not None
    assert (distro.id, distro.version_id) == (distro_id, version)


def test_nothing_recognisable() -> None:
    assert detect({}) is None
    assert detect({"etc/redhat-release": b"hello\n", "etc/alpine-release": b"edge-ish\n"}) is None
    assert detect({"etc/passwd": ALPINE_OS_RELEASE}) is None  # only release files are read
    assert detect({"etc/os-release": b"ID=huge\n" + b"#" * 100_000}) is None


def test_wants() -> None:
    detector = DistroDetector()
    assert detector.wants("etc/os-release")
    assert detector.wants("usr/lib/os-release")
    assert detector.wants("etc/debian_version")
    assert not detector.wants("etc/os-release.d/x")


# --- qualify_purls ------------------------------------------------------------------------------


def pkg(ptype: PackageType, purl: str) -> Package:
    return Package(name="n", version="1", type=ptype, purl=purl)


def test_qualify_debian_family() -> None:
    deb = pkg(PackageType.DEB, "pkg:deb/debian/libc6@2.36-9?arch=amd64&upstream=glibc")
    python = pkg(PackageType.PYTHON, "pkg:pypi/requests@2.31.0")
    ubuntu = detect({"etc/os-release": UBUNTU_OS_RELEASE})
    out = qualify_purls([deb, python], ubuntu)
    assert out[0].purl == "pkg:deb/ubuntu/libc6@2.36-9?arch=amd64&distro=ubuntu-22.04&upstream=glibc"
    assert out[1] is python  # language packages are untouched
    assert out[0].name == deb.name and out[0].version == deb.version


def test_qualify_rpm_uses_syft_namespaces() -> None:
    rpm = pkg(PackageType.RPM, "pkg:rpm/bash@5.1.8-9.el9?arch=x86_64")
    rhel = Distro(id="rhel", version_id="9.3", id_like=("fedora",))
    assert qualify_purls([rpm], rhel)[0].purl == "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64&distro=rhel-9.3"
    rocky = detect({"etc/os-release": ROCKY_OS_RELEASE})
    assert (
        qualify_purls([rpm], rocky)[0].purl == "pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9.3"
    )
    leap = Distro(id="opensuse-leap", version_id="15.5", id_like=("suse", "opensuse"))
    assert qualify_purls([rpm], leap)[0].purl.startswith("pkg:rpm/opensuse/bash@")


def test_qualify_replaces_an_existing_distro_and_skips_foreign_families() -> None:
    apk = pkg(PackageType.APK, "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.0")
    deb = pkg(PackageType.DEB, "pkg:deb/debian/x@1")
    alpine = detect({"etc/os-release": ALPINE_OS_RELEASE})
    out = qualify_purls([apk, deb], alpine)
    assert out[0].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    assert out[1] is deb  # a deb on Alpine is not given an "alpine" namespace
    assert qualify_purls([apk], None) == (apk,)
    broken = pkg(PackageType.DEB, "not a purl")
    assert qualify_purls([broken], detect({"etc/os-release": UBUNTU_OS_RELEASE})) == (broken,)


def test_distro_without_version() -> None:
    deb = pkg(PackageType.DEB, "pkg:deb/debian/x@1")
    sid = detect({"etc/debian_version": b"trixie/sid\n"})
    assert qualify_purls([deb], sid)[0].purl == "pkg:deb/debian/x@1?distro=debian"


_component = (
    st.text(min_size=1, max_size=12) | st.text(alphabet="aZ09.+@:~_-", min_size=1, max_size=12)
).filter(lambda s: s.strip() == s and "/" not in s)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["deb", "apk", "rpm"]),
    st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8),
    _component,
    _component,
    st.dictionaries(st.sampled_from(["arch", "upstream", "epoch", "distro"]), _component, max_size=4),
)
def test_os_purl_equals_packageurl(
    ptype: str, namespace: str | None, name: str, version: str, qualifiers: dict[str, str]
) -> None:
    expected = PackageURL(type=ptype, namespace=namespace, name=name, version=version, qualifiers=qualifiers)
    assert os_purl(ptype, namespace, name, version, qualifiers) == expected.to_string()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([PackageType.DEB, PackageType.RPM]),
    _component,
    _component,
    st.dictionaries(st.sampled_from(["arch", "upstream", "epoch"]), _component, max_size=3),
)
def test_qualify_purls_equals_packageurl(
    ptype: PackageType, name: str, version: str, qualifiers: dict[str, str]
) -> None:
    purl_type = "deb" if ptype is PackageType.DEB else "rpm"
    original = PackageURL(type=purl_type, namespace="x", name=name, version=version, qualifiers=qualifiers)
    distro = (
        Distro(id="debian", version_id="12")
        if ptype is PackageType.DEB
        else Distro(id="fedora", version_id="40")
    )
    (out,) = qualify_purls([pkg(ptype, original.to_string())], distro)
    expected = PackageURL(
        type=purl_type,
        namespace=distro.id,
        name=name,
        version=version,
        qualifiers={**qualifiers, "distro": f"{distro.id}-{distro.version_id}"},
    )
    assert out.purl == expected.to_string()
