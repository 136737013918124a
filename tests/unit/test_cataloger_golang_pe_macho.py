"""Go build info in PE (Windows) and Mach-O (macOS) binaries cross-compiled here, with syft 1.18.1 as the reference."""

from __future__ import annotations

import hashlib
import inspect
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.unit.test_cataloger_golang as elf_tests
from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.golang import GoBinaryCataloger
from imgsec.sbom.catalogers.macho import MachoError, macho_slices
from imgsec.sbom.catalogers.pe import PeError, PeView
from imgsec.sbom.model import Package
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

CACHE = elf_tests.CACHE
TARGETS = {
    # output path in the tree -> (GOOS, GOARCH, extra go build flags)
    "Program Files/hello/hello.exe": ("windows", "amd64", ()),
    "Windows/hello-386.exe": ("windows", "386", ()),
    "app/ldflags.exe": ("windows", "amd64", ("-ldflags=-X main.version=v1.2.3",)),
    "app/stripped.exe": ("windows", "amd64", ("-ldflags=-s -w",)),
    "usr/local/bin/hello-darwin-amd64": ("darwin", "amd64", ()),
    "usr/local/bin/hello-darwin-arm64": ("darwin", "arm64", ()),
    "usr/local/bin/stripped-darwin": ("darwin", "arm64", ("-ldflags=-s -w",)),
}
JAVA = 'public class Hello { public static void main(String[] a) { System.out.println("hi"); } }\n'
FAT_ALIGN = 14  # slices start on 2**14-byte boundaries, as lipo lays them out


def fat_binary(slices: list[bytes]) -> bytes:
    """A universal binary as <mach-o/fat.h> defines it: big-endian header, fat_arch table, slices."""
    table = b""
    body = b""
    offset = 1 << FAT_ALIGN
    for data in slices:
        cputype, cpusubtype = struct.unpack_from("<ii", data, 4)  # both slices are little-endian
        table += struct.pack(">iiIII", cputype, cpusubtype, offset + len(body), len(data), FAT_ALIGN)
        body += data + b"\0" * (-len(data) % (1 << FAT_ALIGN))
    head = struct.pack(">II", 0xCAFEBABE, len(slices)) + table
    return head + b"\0" * (offset - len(head)) + body


def _build(root: Path) -> None:
    src = root / "src"
    (src / "vendor/golang.org/x/text/lang").mkdir(parents=True)
    (src / "vendor/example.com/old/thing").mkdir(parents=True)
    (src / "go.mod").write_text(elf_tests.GO_MOD)
    (src / "vendor/modules.txt").write_text(elf_tests.MODULES_TXT)
    (src / "vendor/golang.org/x/text/lang/lang.go").write_text(
        'package lang\n\nfunc Name() string { return "en" }\n'
    )
    (src / "vendor/example.com/old/thing/t.go").write_text("package thing\n\nfunc T() int { return 4 }\n")
    (src / "main.go").write_text(elf_tests.MAIN_GO)
    tree = root / "tree"
    for out, (goos, goarch, flags) in TARGETS.items():
        env = dict(
            os.environ, GOFLAGS="-mod=vendor", GOPROXY="off", CGO_ENABLED="0", GOOS=goos, GOARCH=goarch
        )
        env.setdefault("GOCACHE", str(CACHE / "go-build"))
        subprocess.run(
            ["go", "build", "-trimpath", *flags, "-o", str(tree / out), "."],
            cwd=src,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
    # A PE copied without its x bit, and a universal (fat) macOS binary of both architectures.
    (tree / "Program Files/hello/hello.exe").chmod(0o644)
    fat = fat_binary(
        [(tree / f"usr/local/bin/hello-darwin-{arch}").read_bytes() for arch in ("amd64", "arm64")]
    )
    (tree / "usr/local/bin/hello-universal").write_bytes(fat)
    (tree / "usr/local/bin/hello-universal").chmod(0o755)
    # A real Java class file (same 0xCAFEBABE magic as a fat Mach-O) with a Go program appended.
    java = root / "java"
    java.mkdir()
    (java / "Hello.java").write_text(JAVA)
    subprocess.run(["javac", "Hello.java"], cwd=java, check=True, capture_output=True, timeout=300)
    klass = (java / "Hello.class").read_bytes() + (tree / "usr/local/bin/hello-darwin-amd64").read_bytes()
    (tree / "usr/lib/java").mkdir(parents=True)
    (tree / "usr/lib/java/Hello.class").write_bytes(klass)


@pytest.fixture(scope="module")
def cross_tree() -> Path:
    """Cross-compiled Go binaries, built once and cached by the hash of the builder's source."""
    if shutil.which("go") is None or shutil.which("javac") is None:
        pytest.skip("go and javac are needed to build the fixtures")
    source = (
        inspect.getsource(_build)
        + inspect.getsource(fat_binary)
        + repr(TARGETS)
        + JAVA
        + elf_tests.GO_MOD
        + elf_tests.MODULES_TXT
        + elf_tests.MAIN_GO
    )
    root = CACHE / f"go-pe-macho-{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    if not (root / "tree/usr/lib/java/Hello.class").exists():
        tmp = CACHE / f".go-pe-macho-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        _build(tmp)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root / "tree"


def _ours(tree: Path) -> list[Package]:
    return catalog_dir(GoBinaryCataloger(), tree)


def _key(p: Package) -> tuple[str, str, str, str, str]:
    return (p.locations[0].path, str(p.type), p.name, p.version, unquote(p.purl))


def test_same_packages_as_syft(cross_tree: Path) -> None:
    ours = {_key(p) for p in _ours(cross_tree)}
    theirs = {
        (str(loc["path"]).lstrip("/"), a["type"], a["name"], a["version"], unquote(str(a["purl"])))
        for a in syft_dir_artifacts(cross_tree)
        if a["type"] == "go-module"
        for loc in a["locations"]
    }
    assert ours == theirs
    # and the comparison covered every format: each program was found, the class file was not
    paths = {key[0] for key in ours}
    assert paths == {*TARGETS, "usr/local/bin/hello-universal"}


def test_what_go_version_m_reports(cross_tree: Path) -> None:
    by_file: dict[str, dict[str, Package]] = {}
    for p in _ours(cross_tree):
        by_file.setdefault(p.locations[0].path, {})[p.name] = p
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path, (goos, goarch, _) in TARGETS.items():
        found = by_file[path]
        assert set(found) == {"example.com/hello", "example.com/new", "golang.org/x/text", "stdlib"}, path
        assert found["golang.org/x/text"].purl == "pkg:golang/golang.org/x/text@v0.3.5"
        assert found["example.com/new"].version == "v1.1.0"
        assert found["stdlib"].version == go_version
        main = found["example.com/hello"]
        assert main.meta("goCompiledVersion") == go_version
        assert main.meta("build:GOOS") == goos, path
        assert main.meta("build:GOARCH") == goarch, path
        assert main.meta("architecture") == goarch, path
    assert by_file["app/ldflags.exe"]["example.com/hello"].version == "v1.2.3"
    assert by_file["Program Files/hello/hello.exe"]["example.com/hello"].version == "(devel)"


def test_every_slice_of_a_universal_binary(cross_tree: Path) -> None:
    found = [p for p in _ours(cross_tree) if p.locations[0].path == "usr/local/bin/hello-universal"]
    mains = [p for p in found if p.name == "example.com/hello"]
    assert sorted(str(p.meta("architecture")) for p in mains) == ["amd64", "arm64"]
    assert len(found) == 8  # four packages per slice, as syft reports them
    slices = macho_slices((cross_tree / "usr/local/bin/hello-universal").read_bytes())
    assert [s.content for s in slices] == [
        (cross_tree / f"usr/local/bin/hello-darwin-{arch}").read_bytes() for arch in ("amd64", "arm64")
    ]


def test_java_class_file_is_not_a_fat_binary(cross_tree: Path) -> None:
    content = (cross_tree / "usr/lib/java/Hello.class").read_bytes()
    assert content.startswith(b"\xca\xfe\xba\xbe")
    assert b"\xff Go buildinf:" in content  # the cheap rejection does not settle this one
    with pytest.raises(MachoError):
        macho_slices(content)
    assert (
        GoBinaryCataloger().catalog(FileInfo("usr/lib/java/Hello.class", 0o644, len(content)), content) == []
    )


def test_pe_headers_as_the_pe_spec_lays_them_out(cross_tree: Path) -> None:
    # PE/COFF: IMAGE_FILE_MACHINE_AMD64 = 0x8664, I386 = 0x14c; Go links at 0x400000 (both widths).
    amd64 = PeView((cross_tree / "Program Files/hello/hello.exe").read_bytes())
    i386 = PeView((cross_tree / "Windows/hello-386.exe").read_bytes())
    assert (amd64.machine, i386.machine) == (0x8664, 0x14C)
    assert amd64.image_base == i386.image_base == 0x400000
    for view in (amd64, i386):
        names = [s.name for s in view.sections]
        assert ".text" in names and ".data" in names
        data = next(s for s in view.sections if s.name == ".data")
        assert view.data_start() == view.image_base + data.virtual_address
        assert view.read(view.data_start() or 0, 14) == b"\xff Go buildinf:"


def test_wants_windows_programs() -> None:
    c = GoBinaryCataloger()
    assert c.wants(FileInfo("Files/Program Files/app/tool.exe", 0o644, 10))
    assert c.wants(FileInfo("Files/Windows/System32/TOOL.EXE", 0o644, 10))
    assert not c.wants(FileInfo("Files/Windows/notes.txt", 0o644, 10))
    for magic in (b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        assert any(magic.startswith(m) for m in c.magic), magic
    assert b"\xca\xfe\xba\xbe" in c.magic


def _damaged(content: bytes, rng: random.Random) -> bytes:
    data = bytearray(content)
    # Damage where the headers are: the first 4 KiB (and the fat table) decide everything.
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(min(len(data), 4096))] = rng.randrange(256)
    return bytes(data)


@pytest.mark.parametrize(
    "path",
    [
        "Program Files/hello/hello.exe",
        "Windows/hello-386.exe",
        "usr/local/bin/hello-darwin-amd64",
        "usr/local/bin/hello-darwin-arm64",
        "usr/local/bin/hello-universal",
    ],
)
def test_truncated_and_damaged_files_give_nothing_or_the_readers_error(cross_tree: Path, path: str) -> None:
    content = (cross_tree / path).read_bytes()
    c = GoBinaryCataloger()
    info = FileInfo(path, 0o755, len(content))
    for cut in (2, 4, 63, 64, 200, 4096, 20000):
        assert c.catalog(info, content[:cut]) == []
    c.catalog(info, content[: len(content) // 2])  # whatever survives the cut, it must not raise
    rng = random.Random(path)
    for _ in range(40):
        broken = _damaged(content, rng)
        c.catalog(info, broken)
        try:  # the readers raise their own error and nothing else
            if broken.startswith(b"MZ"):
                PeView(broken)
            else:
                macho_slices(broken)
        except (PeError, MachoError):
            pass
    magic_at = content.index(b"\xff Go buildinf:")
    # A huge varint length after the header must be refused, not allocated.
    broken = content[: magic_at + 32] + b"\xff" * 9 + b"\x01" + content[magic_at + 42 :]
    if not path.endswith("universal"):
        assert c.catalog(info, broken) == []


_HEADS = [
    b"MZ",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_HEADS), st.binary(min_size=0, max_size=2048))
def test_never_raises_on_hostile_headers(head: bytes, tail: bytes) -> None:
    content = head + tail + b"\xff Go buildinf:\x08\x02" + tail
    GoBinaryCataloger().catalog(FileInfo("usr/bin/x", 0o755, len(content)), content)
    try:
        if head == b"MZ":
            PeView(content)
        else:
            macho_slices(content)
    except (PeError, MachoError):
        pass


def test_without_go_buildinfo_section_the_first_read_write_segment_is_searched(
    cross_tree: Path, tmp_path: Path
) -> None:
    # Go < 1.18 wrote no __go_buildinfo section: rename it and the segment rule of debug/buildinfo
    # applies.  On amd64 __DATA (which starts with the build info) is the first read-write segment;
    # on arm64 __DATA_CONST comes first, so the build info is not found there - by syft either.
    (tmp_path / "bin").mkdir()
    for arch in ("amd64", "arm64"):
        content = (cross_tree / f"usr/local/bin/hello-darwin-{arch}").read_bytes()
        at = content.index(b"__go_buildinfo\0\0", 0, 8192)  # in the load commands
        renamed = content[:at] + b"__go_buildinfX" + content[at + 14 :]
        (tmp_path / "bin" / arch).write_bytes(renamed)
        (tmp_path / "bin" / arch).chmod(0o755)
    ours = {_key(p) for p in _ours(tmp_path)}
    theirs = {
        (str(loc["path"]).lstrip("/"), a["type"], a["name"], a["version"], unquote(str(a["purl"])))
        for a in syft_dir_artifacts(tmp_path)
        if a["type"] == "go-module"
        for loc in a["locations"]
    }
    assert ours == theirs
    assert {key[0] for key in ours} == {"bin/amd64"}


def test_fat_table_must_match_its_slices(cross_tree: Path) -> None:
    slices = [(cross_tree / f"usr/local/bin/hello-darwin-{arch}").read_bytes() for arch in ("amd64", "arm64")]
    good = fat_binary(slices)
    assert len(macho_slices(good)) == 2
    # <mach-o/fat.h>: fat_arch entries start at byte 8, 20 bytes each, cputype first.
    wrong_cpu = good[:8] + good[28:32] + good[12:28] + good[8:12] + good[32:]
    with pytest.raises(MachoError):
        macho_slices(wrong_cpu)
    duplicate = fat_binary([slices[0], slices[0]])
    with pytest.raises(MachoError):
        macho_slices(duplicate)
    past_the_end = good[:8] + good[8:16] + struct.pack(">I", len(good)) + good[20:]
    with pytest.raises(MachoError):
        macho_slices(past_the_end)
    no_slices = good[:4] + b"\0\0\0\0" + good[8:]
    with pytest.raises(MachoError):
        macho_slices(no_slices)
