"""Our small ELF reader agrees with pyelftools on real ELF files of every class and byte order."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from imgsec.sbom.catalogers.elf import MACHINES, PT_LOAD, ElfError, ElfView, section_names
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


def _same_as_pyelftools(content: bytes, where: object) -> None:
    ours = ElfView(content)
    theirs = ELFFile(io.BytesIO(content))
    assert section_names(content) == _pyelftools_table(content), where
    assert MACHINES.get(ours.machine) == str(theirs["e_machine"]).removeprefix("EM_").lower(), where
    loads = [
        (s["p_flags"], s["p_offset"], s["p_vaddr"], s["p_filesz"], s["p_memsz"])
        for s in theirs.iter_segments()
        if s["p_type"] == "PT_LOAD"
    ]
    assert [(s.flags, s.offset, s.vaddr, s.filesz, s.memsz) for s in ours.loads] == loads, where
    first: dict[str, tuple[int, int, int]] = {}
    for sec in theirs.iter_sections():
        if sec.name:
            first.setdefault(sec.name, (sec["sh_addr"], sec["sh_offset"], sec["sh_size"]))
    for name, (addr, offset, size) in first.items():
        found = ours.section(name)
        assert found is not None and (found.addr, found.offset, found.size) == (addr, offset, size), (
            where,
            name,
        )
    assert ours.section(".no-such-section") is None


def test_same_headers_as_pyelftools_on_host_binaries() -> None:
    files = _host_elf_files()
    assert len(files) >= 20
    for path in files:
        _same_as_pyelftools(path.read_bytes(), path)


def test_other_classes_and_byte_orders(cross_binaries: dict[str, Path]) -> None:
    for arch, path in cross_binaries.items():
        content = path.read_bytes()
        _same_as_pyelftools(content, arch)
        # and the Go cataloger, which relies on it, still finds the build info on every one
        info = read_build_info(content)
        assert info is not None, arch
        assert "example.com/cross" in info[1], arch


def _poke(view: Callable[[], object]) -> None:
    try:
        view()
    except ElfError:
        pass  # the only error a malformed file may raise


def test_damaged_headers_raise_elf_error_or_nothing() -> None:
    content = _host_elf_files(1)[0].read_bytes()
    rng = random.Random(20261129)
    samples = [content[:cut] for cut in range(0, 200)]
    for _ in range(400):  # random bytes over the ELF, program and section headers
        damaged = bytearray(content)
        for _ in range(rng.randint(1, 8)):
            at = rng.choice([rng.randrange(0, 64), rng.randrange(0, len(content))])
            damaged[at] = rng.randrange(256)
        samples.append(bytes(damaged))
    for sample in samples:
        assert section_names(sample) is None or isinstance(section_names(sample), bytes)
        _poke(partial(lambda data: ElfView(data).loads, sample))
        _poke(partial(lambda data: ElfView(data).section(".text"), sample))
        _poke(partial(lambda data: ElfView(data).read(0x400000, 64), sample))
    without_sections = bytearray(content)
    without_sections[0x28:0x30] = bytes(8)  # e_shoff = 0: no section header table
    assert section_names(bytes(without_sections)) is None
    assert ElfView(bytes(without_sections)).section(".text") is None
    assert PT_LOAD in {s.type for s in ElfView(content).loads}
