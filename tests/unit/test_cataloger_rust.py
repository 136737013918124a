"""The cargo-auditable cataloger against real ELF binaries carrying a ``.dep-v0`` section, with syft as the reference."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.rust import CargoAuditableCataloger
from imgsec.sbom.model import Package, PackageType
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgsec-test-fixtures"

# The dependency tree as cargo-auditable writes it (rust-audit-info format: packages with name,
# version, source, optional kind ("runtime" default, or "build"), dependencies, root).
AUDIT: dict[str, list[dict[str, object]]] = {
    "packages": [
        {"name": "myapp", "version": "0.1.0", "source": "local", "dependencies": [1, 2, 3, 4], "root": True},
        {"name": "serde", "version": "1.0.130", "source": "crates.io"},
        {"name": "cc", "version": "1.0.73", "source": "crates.io", "kind": "build"},
        {"name": "gitdep", "version": "0.2.0", "source": "git"},
        {"name": "Weird_Name", "version": "2.0.0-beta.1+meta", "source": "registry", "kind": "runtime"},
    ]
}
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


def _build(root: Path, sections: dict[str, bytes]) -> None:
    """Compile a C program and embed each payload as an ELF section, as cargo-auditable's linker step does."""
    root.mkdir(parents=True)
    (root / "h.c").write_text(HELLO_C)
    subprocess.run(
        ["gcc", "-O1", "-o", str(root / "hello"), str(root / "h.c")], check=True, capture_output=True
    )
    for name, payload in sections.items():
        (root / "payload").write_bytes(payload)
        out = root / "tree" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "objcopy",
                "--add-section",
                f".dep-v0={root / 'payload'}",
                "--set-section-flags",
                ".dep-v0=noload,readonly",
                str(root / "hello"),
                str(out),
            ],
            check=True,
            capture_output=True,
        )
    shutil.copy(root / "hello", root / "tree" / "usr/bin/plain")


def _payloads() -> dict[str, bytes]:
    return {
        "usr/bin/app": zlib.compress(json.dumps(AUDIT).encode()),
        "usr/bin/bomb": zlib.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", 9),
        "usr/bin/not-zlib": b"{}",
        "usr/bin/not-json": zlib.compress(b"\x00\x01garbage"),
    }


@pytest.fixture(scope="module")
def tree() -> Path:
    if shutil.which("gcc") is None or shutil.which("objcopy") is None:
        pytest.skip("gcc and objcopy are needed to build the fixtures")
    key = hashlib.sha256(
        (inspect.getsource(_build) + inspect.getsource(_payloads) + json.dumps(AUDIT) + HELLO_C).encode()
    ).hexdigest()[:16]
    root = CACHE / f"cargo-auditable-{key}"
    if not (root / "tree/usr/bin/plain").exists():
        tmp = CACHE / f".cargo-auditable-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        _build(tmp, _payloads())
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root / "tree"


def catalog_tree(root: Path) -> list[Package]:
    return catalog_dir(CargoAuditableCataloger(), root)


def syft_packages(root: Path) -> set[tuple[str, str, str, str, str]]:
    artifacts = syft_dir_artifacts(root)
    return {
        (loc["path"].lstrip("/"), a["type"], a["name"], a["version"], a["purl"])
        for a in artifacts
        for loc in a["locations"]
    }


def test_same_packages_as_syft(tree: Path) -> None:
    ours = {(p.locations[0].path, str(p.type), p.name, p.version, p.purl) for p in catalog_tree(tree)}
    assert ours == {k for k in syft_packages(tree) if k[1] == "rust-crate"}


def test_runtime_crates_only_root_marked(tree: Path) -> None:
    found = {p.name: p for p in catalog_tree(tree)}
    runtime = {p["name"] for p in AUDIT["packages"] if p.get("kind", "runtime") == "runtime"}
    assert set(found) == runtime  # the build-only crate "cc" is not in the binary
    assert found["myapp"].meta("root") == "true"
    assert found["serde"].purl == "pkg:cargo/serde@1.0.130"
    assert found["serde"].type is PackageType.RUST_CRATE
    assert found["gitdep"].meta("source") == "git"
    assert {p.locations[0].path for p in found.values()} == {"usr/bin/app"}


def test_bombs_and_garbage_yield_nothing(tree: Path) -> None:
    c = CargoAuditableCataloger()
    for name in ("bomb", "not-zlib", "not-json", "plain"):
        content = (tree / "usr/bin" / name).read_bytes()
        assert c.catalog(FileInfo(f"usr/bin/{name}", 0o755, len(content)), content) == []


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_never_raises_on_hostile_bytes(tail: bytes) -> None:
    content = b"\x7fELF\x02\x01\x01\x00" + tail + b".dep-v0" + tail
    CargoAuditableCataloger().catalog(FileInfo("usr/bin/x", 0o755, len(content)), content)
