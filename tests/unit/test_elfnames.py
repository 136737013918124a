"""The section-name prefilter agrees with pyelftools on real ELF files of every class and byte order."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from imgsec.sbom.catalogers.elfnames import section_names
from imgsec.sbom.catalogers.golang import read_build_info
from tests.helpers.syft import CACHE

MAIN_GO = 'package main\n\nfunc main() { println("hi") }\n'
ARCHES = ("386", "s390x", "arm")  # 32-bit little-endian, 64-bit big-endian, 32-bit ARM


@pytest.fixture(scope="module")
def cross_binaries() -> dict[str, Path]:
    """Tiny Go programs cross-compiled offline, cached by the hash of their source."""
    key = hashlib.sha256((MAIN_GO + ",".join(ARCHES)).encode()).hexdigest()[:16]
    root = CACHE / f"go-cross-{key}"
    if not all((root / arch).exists() for arch in ARCHES):
        tmp = CACHE / f".go-cross-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "main.go").write_text(MAIN_GO)
        (tmp / "go.mod").write_text("module example.com/cross\n\ngo 1.19\n")
        for arch in ARCHES:
            env = dict(os.environ, GOOS="linux", GOARCH=arch, CGO_ENABLED="0", GOPROXY="off")
            env.setdefault("GOCACHE", str(CACHE / "go-build"))
            subprocess.run(
                ["go", "build", "-trimpath", "-o", arch, "."],
                cwd=tmp,
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return {arch: root / arch for arch in ARCHES}


def _pyelftools_table(content: bytes) -> bytes:
    """The section-name string table as pyelftools finds it (an independent ELF reader)."""
    elf = ELFFile(io.BytesIO(content))
    table = elf.get_section(elf.get_shstrndx())
    data: bytes = table.data()
    # every section name is in it (names may share a suffix: ".plt" lives inside ".rela.plt")
    assert all(s.name.encode() in data for s in elf.iter_sections())
    return data


def _host_elf_files(limit: int = 40) -> list[Path]:
    found = []
    for directory in (Path("/usr/bin"), Path("/usr/lib/x86_64-linux-gnu")):
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 8 << 20:
                with path.open("rb") as f:
                    if f.read(4) == b"\x7fELF":
                        found.append(path)
            if len(found) >= limit:
                return found
    return found


def test_same_section_names_as_pyelftools_on_host_binaries() -> None:
    files = _host_elf_files()
    assert len(files) >= 20
    for path in files:
        content = path.read_bytes()
        names = section_names(content)
        assert names == _pyelftools_table(content), path


def test_other_classes_and_byte_orders(cross_binaries: dict[str, Path]) -> None:
    for arch, path in cross_binaries.items():
        content = path.read_bytes()
        names = section_names(content)
        assert names == _pyelftools_table(content), arch
        # and the Go cataloger, which relies on it, still finds the build info on every one
        info = read_build_info(content)
        assert info is not None, arch
        assert "example.com/cross" in info[1], arch


def test_damaged_headers_fall_back_instead_of_failing() -> None:
    content = _host_elf_files(1)[0].read_bytes()
    # Every truncation and a few corrupted header fields give bytes or None, never an exception.
    for cut in range(0, 128):
        section_names(content[:cut])
    for offset in (0x04, 0x05, 0x28, 0x3A, 0x3C, 0x3E):
        damaged = bytearray(content)
        damaged[offset : offset + 2] = b"\xff\xff"
        section_names(bytes(damaged))
    without_sections = bytearray(content)
    without_sections[0x28:0x30] = bytes(8)  # e_shoff = 0: no section header table
    assert section_names(bytes(without_sections)) is None
