"""Image misconfiguration checks on hand-made OCI layouts read through the real layer reader."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.findings import FindingKind, Severity
from imgsec.image.config_checks import (
    CHECKS,
    MAX_FILE_FINDINGS,
    MisconfigFinding,
    check_image,
    config_route,
    final_dir_modes,
    final_paths,
)
from imgsec.image.layers import FunctionRoute, LayerResult, read_layers, squash
from imgsec.image.sources import open_image
from imgsec.sbom.catalogers.base import FileInfo
from tests.unit.ocihelp import Entry, make_tar, write_layout

HEALTHY = {"Healthcheck": {"Test": ["CMD", "/app/health"]}, "User": "1000"}
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n"
DPKG = Entry("var/lib/dpkg/status", b"Package: base-files\nStatus: install ok installed\n")


def check(
    tmp_path: Path, layers: Sequence[Sequence[Entry]], config: dict[str, Any] | None = None
) -> list[MisconfigFinding]:
    cfg = {**HEALTHY, **(config or {})}
    write_layout(tmp_path, [make_tar(list(entries)) for entries in layers], config_extra={"config": cfg})
    image = open_image(f"oci:{tmp_path}:t")
    return check_image(image, read_layers(image, [config_route()]))


def ids(findings: Sequence[MisconfigFinding]) -> list[tuple[str, str | None]]:
    return [(f.id, f.path) for f in findings]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ["IS-IMG-002"]),
        ("root", ["IS-IMG-001"]),
        ("0", ["IS-IMG-001"]),
        ("0:0", ["IS-IMG-001"]),
        ("root:root", ["IS-IMG-001"]),
        ("toor", ["IS-IMG-001"]),  # a name that etc/passwd maps to uid 0
        ("1000", []),
        ("1000:0", []),  # gid 0 alone does not make the process root
        ("app", []),
        ("nobody-known", []),  # not in etc/passwd: the runtime refuses to start it, not a root risk
    ],
)
def test_user(tmp_path: Path, user: str, expected: list[str]) -> None:
    findings = check(tmp_path, [[Entry("etc/passwd", PASSWD), DPKG]], {"User": user})
    assert [f.id for f in findings] == expected


def test_missing_user_key_is_root(tmp_path: Path) -> None:
    write_layout(
        tmp_path, [make_tar([DPKG])], config_extra={"config": {"Healthcheck": HEALTHY["Healthcheck"]}}
    )
    image = open_image(f"oci:{tmp_path}:t")
    assert [f.id for f in check_image(image, read_layers(image, [config_route()]))] == ["IS-IMG-002"]


def test_setuid_setgid_and_world_writable_in_the_final_view_only(tmp_path: Path) -> None:
    layers = [
        [
            DPKG,
            Entry("usr/bin/su", b"\x7fELF", mode=0o4755),
            Entry("usr/bin/wall", b"\x7fELF", mode=0o2755),
            Entry("usr/bin/ls", b"\x7fELF", mode=0o755),
            Entry("usr/bin/gone", b"\x7fELF", mode=0o4755),
            Entry("usr/bin/fixed", b"\x7fELF", mode=0o4755),
            Entry("app/data.txt", b"x", mode=0o666),
            Entry("app/ok.txt", b"x", mode=0o644),
        ],
        [
            Entry("usr/bin/.wh.gone"),
            Entry("usr/bin/fixed", b"\x7fELF", mode=0o755),  # later layer dropped the bit
        ],
    ]
    findings = check(tmp_path, layers)
    assert ids(findings) == [
        ("IS-IMG-004", "app/data.txt"),
        ("IS-IMG-003", "usr/bin/su"),
        ("IS-IMG-003", "usr/bin/wall"),
    ]
    su = findings[1]
    assert "setuid" in su.detail and "4755" in su.detail and su.layer is not None


def test_package_manager_caches(tmp_path: Path) -> None:
    layers = [
        [
            DPKG,
            Entry("var/cache/apt/archives/curl_7.88.1-10_amd64.deb", b"!<arch>\n"),
            Entry("var/cache/apt/archives/lock", b""),
            Entry(
                "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", b"x"
            ),
            Entry("var/lib/apt/lists/lock", b""),
            Entry("root/.cache/pip/http-v2/a/b/c", b"x"),
            Entry("home/app/.npm/_cacache/index-v5/aa/bb", b"x"),
            Entry("var/cache/apk/APKINDEX.tar.gz", b"x"),
        ],
        [Entry("var/cache/apk/.wh..wh..opq")],  # cleaned in a later layer: gone from the final view
    ]
    findings = check(tmp_path, layers)
    details = sorted(f.detail for f in findings)
    assert [f.id for f in findings] == ["IS-IMG-005"] * 4
    assert details == [
        "apt archives: 1 file(s) under /var/cache/apt/archives/",
        "apt package lists: 1 file(s) under /var/lib/apt/lists/",
        "npm cache: 1 file(s) under /home/app/.npm/_cacache/",
        "pip cache: 1 file(s) under /root/.cache/pip/",
    ]


def test_shell_in_declared_minimal_image(tmp_path: Path) -> None:
    layers = [
        [
            DPKG,
            Entry("bin/busybox", b"\x7fELF", mode=0o755),
            Entry("bin/sh", kind="symlink", link="busybox"),
            Entry("usr/bin/pip3", b"#!/usr/bin/python3\n", mode=0o755),
        ]
    ]
    labels = {"Labels": {"org.opencontainers.image.base.name": "gcr.io/distroless/python3-debian12:nonroot"}}
    findings = check(tmp_path, layers, labels)
    assert ids(findings) == [("IS-IMG-006", "bin/sh"), ("IS-IMG-006", "usr/bin/pip3")]
    assert all(f.severity is Severity.MEDIUM for f in findings)


def test_shell_in_image_without_package_database(tmp_path: Path) -> None:
    layers = [
        [
            Entry("usr/", kind="dir"),
            Entry("usr/bin/", kind="dir"),
            Entry("usr/bin/dash", b"\x7fELF", mode=0o755),
            Entry("usr/bin/sh", kind="symlink", link="dash"),
            Entry("bin", kind="symlink", link="usr/bin"),  # usrmerge: /bin/sh resolves through it
            Entry("app/server", b"\x7fELF", mode=0o755),
        ]
    ]
    findings = check(tmp_path, layers)
    assert ids(findings) == [("IS-IMG-006", "bin/sh")]
    assert findings[0].severity is Severity.LOW


def test_shell_with_a_package_database_is_fine(tmp_path: Path) -> None:
    assert check(tmp_path, [[DPKG, Entry("bin/sh", b"\x7fELF", mode=0o755)]]) == []


@pytest.mark.parametrize(
    ("base", "flagged"),
    [
        ("debian:latest", True),
        ("debian", True),
        ("ghcr.io/acme/base", True),
        ("debian:12", False),
        ("debian@sha256:" + "a" * 64, False),
        ("gcr.io/distroless/static:nonroot", False),
        ("not a reference", False),
    ],
)
def test_unpinned_base_image(tmp_path: Path, base: str, flagged: bool) -> None:
    findings = check(tmp_path, [[DPKG]], {"Labels": {"org.opencontainers.image.base.name": base}})
    assert [f.id for f in findings] == (["IS-IMG-007"] if flagged else [])


@pytest.mark.parametrize(
    ("healthcheck", "flagged"),
    [(None, True), ({"Test": ["NONE"]}, True), ({"Test": ["CMD-SHELL", "curl -f localhost"]}, False)],
)
def test_healthcheck(tmp_path: Path, healthcheck: dict[str, Any] | None, flagged: bool) -> None:
    findings = check(tmp_path, [[DPKG]], {"Healthcheck": healthcheck})
    assert [f.id for f in findings] == (["IS-IMG-008"] if flagged else [])


def test_ssh_port(tmp_path: Path) -> None:
    findings = check(tmp_path, [[DPKG]], {"ExposedPorts": {"22/tcp": {}, "8080/tcp": {}}})
    assert [f.id for f in findings] == ["IS-IMG-009"]


def test_every_finding_carries_id_title_and_fix(tmp_path: Path) -> None:
    findings = check(
        tmp_path,
        [
            [
                Entry("bin/sh", b"x", mode=0o4777),
                Entry("root/.cache/pip/x", b"x"),
                Entry("srv/", kind="dir", mode=0o777),
            ]
        ],
        {
            "User": "",
            "Healthcheck": None,
            "ExposedPorts": {"22/tcp": {}},
            "Labels": {"org.opencontainers.image.base.name": "scratch:latest"},
        },
    )
    assert {f.id for f in findings} == set(CHECKS) - {"IS-IMG-001"}
    for f in findings:
        assert f.kind is FindingKind.MISCONFIGURATION
        assert f.title == CHECKS[f.id].title and f.fix and f.detail
    json.dumps([f.detail for f in findings])


def _keep(info: FileInfo, content: bytes) -> Sequence[bytes]:
    return [b""]


def test_final_paths_agree_with_the_layer_reader_squash(tmp_path: Path) -> None:
    layers = [
        make_tar(
            [
                Entry("etc/keep", b"1"),
                Entry("etc/replace", b"1"),
                Entry("etc/delete-me", b"1"),
                Entry("opaque/lower", b"1"),
                Entry("was-dir/inner", b"1"),
                Entry("del-dir/a/b", b"1"),
                Entry("link", kind="symlink", link="etc/keep"),
            ]
        ),
        make_tar(
            [
                Entry("etc/replace", b"2"),
                Entry("etc/.wh.delete-me"),
                Entry("opaque/.wh..wh..opq"),
                Entry("opaque/upper", b"2"),
                Entry("was-dir", b"2"),
                Entry("del-dir/.wh.a"),
            ]
        ),
        make_tar([Entry(".wh.link"), Entry("new", b"3")]),
    ]
    write_layout(tmp_path, layers)
    image = open_image(f"oci:{tmp_path}:t")
    results = read_layers(image, [FunctionRoute(name="all", wants_fn=lambda i: True, analyze_fn=_keep)])
    view = squash(results)
    expected = {p: placed.layer_index for p, placed in view.results["all"].items()}
    assert final_paths(results) == expected
    assert expected == {"etc/keep": 0, "etc/replace": 1, "opaque/upper": 1, "was-dir": 1, "new": 2}


def test_world_writable_findings_are_capped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    entries = [DPKG, *(Entry(f"data/f{i:04d}", b"x", mode=0o666) for i in range(MAX_FILE_FINDINGS + 5))]
    findings = check(tmp_path, [entries])
    assert len(findings) == MAX_FILE_FINDINGS
    assert f"{MAX_FILE_FINDINGS + 5} files" in caplog.text


# --- world-writable directories (IS-IMG-010) -------------------------------------------------------


def _dir(name: str, mode: int) -> Entry:
    return Entry(name + "/", kind="dir", mode=mode)


def dir_findings(tmp_path: Path, layers: Sequence[Sequence[Entry]]) -> list[MisconfigFinding]:
    return [f for f in check(tmp_path, [[DPKG], *layers]) if f.id == "IS-IMG-010"]


def test_world_writable_directory_without_sticky_bit(tmp_path: Path) -> None:
    findings = dir_findings(tmp_path, [[_dir("app", 0o777), Entry("app/run.sh", b"#!/bin/sh\n", mode=0o755)]])
    assert ids(findings) == [("IS-IMG-010", "app")]
    [f] = findings
    assert "directory" in f.detail and "0777" in f.detail and "sticky" in f.detail
    assert f.severity is Severity.MEDIUM and f.kind is FindingKind.MISCONFIGURATION
    image = open_image(f"oci:{tmp_path}:t")
    assert f.layer == image.layers[1].diff_id  # the layer that made it world-writable


@pytest.mark.parametrize(
    "mode",
    [0o1777, 0o755, 0o775, 0o3777],  # /tmp style (sticky), ordinary, group-writable, sticky+setgid
)
def test_sticky_or_not_world_writable_directories_are_fine(tmp_path: Path, mode: int) -> None:
    assert dir_findings(tmp_path, [[_dir("shared", mode)]]) == []


def test_a_later_layer_decides_the_mode(tmp_path: Path) -> None:
    # chmod 777 in one RUN, chmod 755 in the next: the final directory is safe.
    assert dir_findings(tmp_path, [[_dir("app", 0o777)], [_dir("app", 0o755)]]) == []
    # ... and the other way round: the layer that opened it up is the one reported.
    (tmp_path / "b").mkdir()
    findings = dir_findings(tmp_path / "b", [[_dir("app", 0o755)], [_dir("app", 0o777)]])
    assert ids(findings) == [("IS-IMG-010", "app")]
    assert findings[0].layer == open_image(f"oci:{tmp_path / 'b'}:t").layers[2].diff_id


def test_a_file_below_does_not_redeclare_the_directory(tmp_path: Path) -> None:
    # A later layer that only adds a file keeps the directory (and its mode) of the lower layer.
    findings = dir_findings(tmp_path, [[_dir("app", 0o777)], [Entry("app/new.txt", b"x")]])
    assert ids(findings) == [("IS-IMG-010", "app")]


@pytest.mark.parametrize(
    "upper",
    [
        [Entry(".wh.app")],  # deleted
        [Entry("app", b"now a file")],  # replaced by a file
        [Entry("app", kind="symlink", link="srv")],  # replaced by a symlink
    ],
    ids=["whiteout", "file", "symlink"],
)
def test_deleted_or_replaced_directory_is_gone(tmp_path: Path, upper: list[Entry]) -> None:
    lower = [_dir("app", 0o777), _dir("app/cache", 0o777), Entry("app/cache/x", b"x")]
    assert dir_findings(tmp_path, [lower, upper]) == []


def test_opaque_parent_hides_the_directories_below_but_not_itself(tmp_path: Path) -> None:
    lower = [_dir("data", 0o755), _dir("data/tmp", 0o777), _dir("data/tmp/deep", 0o777)]
    assert dir_findings(tmp_path, [lower, [_dir("data", 0o755), Entry("data/.wh..wh..opq")]]) == []
    (tmp_path / "b").mkdir()
    lower = [_dir("data", 0o777), _dir("data/tmp", 0o777)]
    findings = dir_findings(tmp_path / "b", [lower, [Entry("data/.wh..wh..opq")]])
    assert ids(findings) == [("IS-IMG-010", "data")]  # the marker empties data/, it does not delete it


def test_world_writable_directory_findings_are_capped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [_dir(f"d{i:04d}", 0o777) for i in range(MAX_FILE_FINDINGS + 3)]
    findings = dir_findings(tmp_path, [entries])
    assert len(findings) == MAX_FILE_FINDINGS
    assert f"{MAX_FILE_FINDINGS + 3} directories" in caplog.text


def test_dir_source_reports_a_real_chmod_777_directory(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    for sub, mode in (("app", 0o777), ("tmp", 0o1777), ("etc", 0o755), ("app/logs", 0o777)):
        (root / sub).mkdir(parents=True)
        os.chmod(root / sub, mode)  # a real chmod: what 'RUN chmod 777' leaves on disk
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_bytes(DPKG.data)
    os.symlink("app", root / "link-to-app")  # a symlink to a world-writable dir is no directory
    image = open_image(f"dir:{root}")
    findings = [f for f in check_image(image, read_layers(image, [config_route()])) if f.id == "IS-IMG-010"]
    assert ids(findings) == [("IS-IMG-010", "app"), ("IS-IMG-010", "app/logs")]
    expected = {
        str(p.relative_to(root)): p.lstat().st_mode & 0o7777
        for p in root.rglob("*")
        if p.is_dir() and not p.is_symlink()
    }
    assert {p: m for p, (m, _) in final_dir_modes(read_layers(image, [config_route()])).items()} == expected


_DPATHS = ["a", "a/b", "a/b/c", "a/e", "f", "f/g"]


@st.composite
def _dir_stacks(draw: st.DrawFn) -> list[LayerResult]:
    stack = []
    for index in range(draw(st.integers(1, 4))):
        dirs = draw(st.dictionaries(st.sampled_from(_DPATHS), st.sampled_from([0o755, 0o777, 0o1777])))
        # A layer cannot hold a directory and a non-directory at one path.
        non_dirs = draw(st.sets(st.sampled_from(_DPATHS))) - set(dirs)
        result = LayerResult(layer=f"l{index}", dir_modes=dirs, non_dirs=non_dirs)
        result.whiteouts = draw(st.sets(st.sampled_from(_DPATHS)))
        result.opaque_dirs = draw(st.sets(st.sampled_from(["", *_DPATHS])))
        stack.append(result)
    return stack


def _dirs_by_the_book(stack: list[LayerResult]) -> dict[str, tuple[int, int]]:
    """The OCI image spec's layer semantics for directories on a plain dict, one rule at a time."""
    fs: dict[str, tuple[int, int]] = {}
    for index, layer in enumerate(stack):
        for d in layer.opaque_dirs:  # lower contents of an opaque directory disappear
            fs = {p: v for p, v in fs.items() if d and not p.startswith(d + "/")}
        for w in layer.whiteouts | layer.non_dirs:  # deleted, or replaced by a non-directory
            fs = {p: v for p, v in fs.items() if p != w and not p.startswith(w + "/")}
        for p, mode in layer.dir_modes.items():  # a directory entry sets the directory's mode
            fs[p] = (mode, index)
    return fs


@given(_dir_stacks())
@settings(max_examples=300, deadline=None)
def test_final_dir_modes_follow_the_image_spec(stack: list[LayerResult]) -> None:
    assert final_dir_modes(stack) == _dirs_by_the_book(stack)
