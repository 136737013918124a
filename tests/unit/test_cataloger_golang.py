"""The Go binary cataloger against binaries built here by the Go toolchain, with syft 1.18.1 as the reference."""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.golang import GoBinaryCataloger, version_from_contents
from imgsec.sbom.model import Package, PackageType
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgsec-test-fixtures"
COMMIT_DATE = "2023-01-02T03:04:05Z"

GO_MOD = """module example.com/hello

go 1.19

require (
\tgolang.org/x/text v0.3.5
\texample.com/old v1.0.0
)

replace example.com/old v1.0.0 => example.com/new v1.1.0
"""
# A dependency version is recorded without downloading it by vendoring a stand-in package.
MODULES_TXT = """# example.com/old v1.0.0 => example.com/new v1.1.0
## explicit
example.com/old/thing
# golang.org/x/text v0.3.5
## explicit
golang.org/x/text/lang
"""
MAIN_GO = """package main

import (
\t"fmt"

\t"example.com/old/thing"
\t"golang.org/x/text/lang"
)

var version = "dev"

func main() { fmt.Println(lang.Name(), thing.T(), version) }
"""


def _build(root: Path) -> None:
    src = root / "src"
    (src / "vendor/golang.org/x/text/lang").mkdir(parents=True)
    (src / "vendor/example.com/old/thing").mkdir(parents=True)
    (src / "go.mod").write_text(GO_MOD)
    (src / "vendor/modules.txt").write_text(MODULES_TXT)
    (src / "vendor/golang.org/x/text/lang/lang.go").write_text(
        'package lang\n\nfunc Name() string { return "en" }\n'
    )
    (src / "vendor/example.com/old/thing/t.go").write_text("package thing\n\nfunc T() int { return 4 }\n")
    (src / "main.go").write_text(MAIN_GO)
    env = dict(
        os.environ, GOFLAGS="-mod=vendor", GOPROXY="off", CGO_ENABLED="0", GOOS="linux", GOARCH="amd64"
    )
    env.setdefault("GOCACHE", str(CACHE / "go-build"))
    tree = root / "tree"

    def go_build(out: str, *args: str, cwd: Path = src) -> None:
        subprocess.run(
            ["go", "build", *args, "-o", str(tree / out), "."],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )

    go_build("usr/bin/hello", "-trimpath")
    go_build("opt/stripped", "-trimpath", "-ldflags=-s -w")
    go_build("usr/local/bin/ldflags-version", "-trimpath", "-ldflags=-X main.version=v1.2.3")
    go_build(
        "usr/local/bin/ldflags-other-module", "-trimpath", "-ldflags=-X github.com/x/y/version.Version=2.4.5"
    )
    subprocess.run(
        ["go", "build", "-trimpath", "-o", str(tree / "usr/local/bin/partial"), "main.go"],
        cwd=src,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    # A VCS-stamped build: the main module's version becomes a pseudo-version.
    git_env = dict(
        env,
        GIT_AUTHOR_DATE=COMMIT_DATE,
        GIT_COMMITTER_DATE=COMMIT_DATE,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    vcs = root / "vcs"
    shutil.copytree(src, vcs)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "x"]):
        subprocess.run(cmd, cwd=vcs, env=git_env, check=True, capture_output=True)
    go_build("usr/local/bin/vcs", cwd=vcs)
    # The same Go program without its x bit, and a non-Go ELF executable.
    shutil.copy(tree / "usr/bin/hello", tree / "opt/hello.copy")
    (tree / "opt/hello.copy").chmod(0o644)
    shutil.copy("/bin/true", tree / "usr/bin/true")


@pytest.fixture(scope="module")
def go_tree() -> Path:
    """Real Go binaries, built once and cached by the hash of the builder's source."""
    if shutil.which("go") is None or shutil.which("git") is None:
        pytest.skip("go and git are needed to build the fixtures")
    source = inspect.getsource(_build) + GO_MOD + MODULES_TXT + MAIN_GO + COMMIT_DATE
    root = CACHE / f"go-bins-{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    if not (root / "tree/usr/bin/true").exists():
        tmp = CACHE / f".go-bins-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        _build(tmp)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root


def catalog_tree(root: Path) -> list[Package]:
    return catalog_dir(GoBinaryCataloger(), root)


def test_same_packages_as_syft(go_tree: Path) -> None:
    tree = go_tree / "tree"
    ours = {
        (p.locations[0].path, str(p.type), p.name, p.version, unquote(p.purl)) for p in catalog_tree(tree)
    }
    theirs = {
        (str(loc["path"]).lstrip("/"), a["type"], a["name"], a["version"], unquote(str(a["purl"])))
        for a in syft_dir_artifacts(tree)
        if a["type"] == "go-module"
        for loc in a["locations"]
    }
    assert ours == theirs


def test_what_go_version_m_reports(go_tree: Path) -> None:
    tree = go_tree / "tree"
    by_file: dict[str, dict[str, Package]] = {}
    for p in catalog_tree(tree):
        by_file.setdefault(p.locations[0].path, {})[p.name] = p
    hello = by_file["usr/bin/hello"]
    # A replaced dependency is reported as its replacement, as the linker recorded it.
    assert set(hello) == {"example.com/hello", "example.com/new", "golang.org/x/text", "stdlib"}
    assert hello["golang.org/x/text"].purl == "pkg:golang/golang.org/x/text@v0.3.5"
    assert hello["example.com/new"].version == "v1.1.0"
    assert hello["example.com/hello"].version == "(devel)"
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert hello["stdlib"].version == go_version
    assert hello["stdlib"].purl == f"pkg:golang/stdlib@{go_version.removeprefix('go')}"
    main = hello["example.com/hello"]
    assert main.type is PackageType.GO_MODULE
    assert main.meta("goCompiledVersion") == go_version
    assert main.meta("architecture") == "amd64"
    assert main.meta("build:GOOS") == "linux"
    assert main.meta("build:-trimpath") == "true"
    # -trimpath builds do not record -ldflags; this one was built without it.
    assert by_file["usr/local/bin/vcs"]["example.com/hello"].meta("build:vcs") == "git"
    assert "usr/bin/true" not in by_file


def test_main_module_version_guesses(go_tree: Path) -> None:
    mains = {
        p.locations[0].path: p.version
        for p in catalog_tree(go_tree / "tree")
        if p.name.startswith("example.com/h")
    }
    assert mains["usr/local/bin/ldflags-version"] == "v1.2.3"
    # Only -X assignments to main or the main module's own packages count.
    assert mains["usr/local/bin/ldflags-other-module"] == "(devel)"
    # Go's pseudo-version: v0.0.0-<UTC commit time yyyymmddhhmmss>-<12 hex digits of the commit>.
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=go_tree / "vcs", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert mains["usr/local/bin/vcs"] == f"v0.0.0-20230102030405-{head[:12]}"


def test_main_module_version_from_contents_like_syft(go_tree: Path, tmp_path: Path) -> None:
    # syft 1.18 looks for a NUL-terminated semver in the binary when nothing better is known.
    trailers = {
        "a": (b"\x005.6.7\x00", "v5.6.7"),
        "b": (b"\xfe9.8.7\x00", "v9.8.7"),
        "c": (b"\x00\xa0L4.4.4-rc1+x\x00", "v4.4.4-rc1+x"),
        "d": (b"go7.7.7\x00", "(devel)"),
    }
    (tmp_path / "bin").mkdir()
    real = (go_tree / "tree/usr/bin/hello").read_bytes()
    for name, (trailer, _) in trailers.items():
        (tmp_path / "bin" / name).write_bytes(real + trailer)
        (tmp_path / "bin" / name).chmod(0o755)
    ours = {p.locations[0].path: p.version for p in catalog_tree(tmp_path) if p.name == "example.com/hello"}
    assert ours == {f"bin/{name}": expected for name, (_, expected) in trailers.items()}
    theirs = {
        str(a["locations"][0]["path"]).lstrip("/"): a["version"]
        for a in syft_dir_artifacts(tmp_path)
        if a["name"] == "example.com/hello"
    }
    assert ours == theirs


def test_partial_build_main_module(go_tree: Path) -> None:
    names = {p.name for p in catalog_tree(go_tree / "tree") if p.locations[0].path == "usr/local/bin/partial"}
    assert "command-line-arguments" in names


def test_wants() -> None:
    c = GoBinaryCataloger()
    assert c.wants(FileInfo("usr/local/bin/app", 0o755, 10))
    assert c.wants(FileInfo("app/server", 0o700, 10))
    assert c.wants(FileInfo("usr/bin/copied-without-x", 0o644, 10))
    assert c.wants(FileInfo("opt/big-file", 0o644, 2 * 1024 * 1024))
    assert not c.wants(FileInfo("etc/passwd", 0o644, 900))


def test_truncated_and_corrupted_binaries_yield_nothing_without_error(go_tree: Path) -> None:
    content = (go_tree / "tree/usr/bin/hello").read_bytes()
    c = GoBinaryCataloger()
    info = FileInfo("usr/bin/hello", 0o755, len(content))
    for cut in (4, 64, 4096):
        assert c.catalog(info, content[:cut]) == []
    c.catalog(info, content[: len(content) // 2])  # whatever survives the cut, it must not raise
    magic_at = content.index(b"\xff Go buildinf:")
    # A huge varint length after the header must be refused, not allocated.
    broken = content[: magic_at + 32] + b"\xff" * 9 + b"\x01" + content[magic_at + 42 :]
    assert c.catalog(info, broken) == []


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=4096))
def test_never_raises_on_hostile_elf(tail: bytes) -> None:
    content = b"\x7fELF\x02\x01\x01" + tail + b"\xff Go buildinf:\x08\x02" + tail
    GoBinaryCataloger().catalog(FileInfo("usr/bin/x", 0o755, len(content)), content)


def _version_from_contents_by_the_book(content: bytes) -> str:
    """syft's heuristic written the direct way (one regular expression from the first digit)."""
    for m in re.finditer(rb"\d+\.\d+\.\d+[-\w]*[+\w]*\x00", content):
        start = m.start()
        if start > 0 and content[start - 1] == ord("v"):
            start -= 1
        sep = start >= 1 and (content[start - 1] == 0 or content[start - 1] >= 0x80)
        after_l = (
            start >= 3
            and content[start - 1] == ord("L")
            and (content[start - 3] == 0 or content[start - 3] >= 0x80)
        )
        if sep or after_l:
            version = content[start : m.end() - 1].decode("ascii")
            return version if version.startswith("v") else f"v{version}"
    return ""


@given(
    st.lists(
        st.sampled_from(
            [b"1", b"2", b"10", b".", b"v", b"L", b"\x00", b"\x80", b"-", b"+", b"a", b"_", b" "]
        ),
        max_size=60,
    )
)
@settings(max_examples=3000, deadline=None)
def test_version_from_contents_finds_what_the_plain_regex_finds(parts: list[bytes]) -> None:
    content = b"".join(parts)
    assert version_from_contents(content) == _version_from_contents_by_the_book(content)


def test_version_from_contents_on_real_binaries(go_tree: Path) -> None:
    for path in sorted((go_tree / "tree").rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            assert version_from_contents(content) == _version_from_contents_by_the_book(content), path
