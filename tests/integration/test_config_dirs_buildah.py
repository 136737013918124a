"""World-writable directories (IS-IMG-010) in a REAL image built by buildah from a Dockerfile.

The Dockerfile ``chmod 777``s directories in ``RUN`` steps, makes a ``/tmp``-style ``1777`` one,
opens one up and closes it again in a later ``RUN``, and deletes one.  The expectation is not
written by hand: ``umoci unpack --rootless`` applies the layers (its own whiteout handling) to a
real directory, and GNU ``find -type d -perm -0002 ! -perm -1000`` lists what must be reported;
``os.lstat`` of every unpacked directory is what :func:`final_dir_modes` must give.  The rootfs is
tiny: the host's ``dash``, ``mkdir``, ``chmod`` and ``rm`` with the libraries ``ldd`` names, enough
for ``RUN`` under ``--isolation chroot``.  The built image is cached under
``~/.cache/imgsec-test-fixtures/`` keyed by the Dockerfile and this builder's source.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from imgsec.image.config_checks import check_image, config_route, final_dir_modes
from imgsec.image.layers import read_layers
from imgsec.image.sources import open_image
from tests.e2e.test_scan_cli import run as run_cli
from tests.fixtures._cache import cached_build
from tests.helpers import buildah

pytestmark = pytest.mark.integration

DOCKERFILE = """\
FROM scratch
ADD rootfs.tar /
RUN mkdir /app && chmod 777 /app && mkdir /app/uploads && chmod 0777 /app/uploads
RUN mkdir -m 1777 /shared && mkdir /fixed && chmod 777 /fixed && mkdir /gone && chmod 777 /gone
RUN chmod 755 /fixed && rm -r /gone
"""
TAG = "dirs"
_TOOLS = (
    ("sh", "/usr/bin/dash"),
    ("mkdir", "/usr/bin/mkdir"),
    ("chmod", "/usr/bin/chmod"),
    ("rm", "/usr/bin/rm"),
)


def _build(out: Path) -> None:
    ctx = out / "ctx"
    rootfs = out / "rootfs"
    buildah.tiny_rootfs(rootfs, _TOOLS)
    ctx.mkdir()
    with tarfile.open(ctx / "rootfs.tar", "w") as tar:
        tar.add(rootfs, arcname=".")
    shutil.rmtree(rootfs)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    buildah.build_oci_layout(ctx, out, "imgsec-dirs", TAG)


@pytest.fixture(scope="module")
def layout() -> Path:
    for tool in ("buildah", "umoci", "find", "ldd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed (apt-get install buildah umoci)")
    key = hashlib.sha256(
        (DOCKERFILE + repr(_TOOLS) + inspect.getsource(_build) + inspect.getsource(buildah)).encode()
    )
    return cached_build("dirs-buildah", key.hexdigest()[:16], _build) / "layout"


@pytest.fixture(scope="module")
def unpacked(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The final filesystem, as umoci (not imgsec) applies the layers."""
    bundle = tmp_path_factory.mktemp("dirs-umoci") / "bundle"
    buildah.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:{TAG}", str(bundle)])
    return bundle / "rootfs"


def test_world_writable_directories_match_find_on_the_unpacked_image(layout: Path, unpacked: Path) -> None:
    out = buildah.run(
        ["find", str(unpacked), "-mindepth", "1", "-type", "d", "-perm", "-0002", "!", "-perm", "-1000"]
    )
    expected = sorted(str(Path(p).relative_to(unpacked)) for p in out.split())
    assert expected == ["app", "app/uploads"], "the Dockerfile's chmods did not land as intended"

    image = open_image(f"oci:{layout}:{TAG}")
    layers = read_layers(image, [config_route()])
    findings = [f for f in check_image(image, layers) if f.id == "IS-IMG-010"]
    assert sorted(f.path or "" for f in findings) == expected
    # Each finding names the layer of the RUN that made it world-writable (the first RUN layer).
    assert {f.layer for f in findings} == {image.layers[1].diff_id}

    # Every directory left in the image has the mode umoci gave it (the ones any layer declares).
    modes = {p: m for p, (m, _) in final_dir_modes(layers).items()}
    on_disk = {}
    for dirpath, dirnames, _ in os.walk(unpacked):
        for d in dirnames:
            full = Path(dirpath) / d
            if not full.is_symlink():
                on_disk[str(full.relative_to(unpacked))] = full.lstat().st_mode & 0o7777
    assert {p: modes[p] for p in on_disk if p in modes} == on_disk
    assert set(modes) <= set(on_disk)  # nothing deleted (/gone) survives in imgsec's view
    assert {"app", "shared", "fixed"} <= set(modes) and "gone" not in modes
    assert modes["shared"] == 0o1777 and modes["fixed"] == 0o755


def test_cli_config_scan_reports_them_cold_and_warm(layout: Path, tmp_path: Path) -> None:
    copy = tmp_path / "layout"
    shutil.copytree(layout, copy)
    args = [
        "scan",
        f"oci:{copy}:{TAG}",
        "--scanners",
        "config",
        "-f",
        "json",
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    results = []
    for run in ("cold", "warm"):
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        results.append(sorted((f["id"], f.get("path"), f.get("layer")) for f in doc["findings"]))
        if run == "cold":  # the warm scan must answer from the layer cache alone
            gz = [b for b in (copy / "blobs" / "sha256").iterdir() if b.read_bytes()[:2] == b"\x1f\x8b"]
            assert len(gz) == len(open_image(f"oci:{copy}:{TAG}").layers)
            for blob in gz:
                blob.unlink()
    assert results[0] == results[1]
    dirs = [(i, p) for i, p, _ in results[0] if i == "IS-IMG-010"]
    assert dirs == [("IS-IMG-010", "app"), ("IS-IMG-010", "app/uploads")]


def test_directory_modes_of_the_real_bookworm_image_match_its_rootfs() -> None:
    """debootstrap's ~800 directories (with /tmp, /var/tmp, /run/lock at 1777): image and dir: agree
    with ``os.lstat`` and ``find``; none is reported."""
    from tests.fixtures import images

    fixture = images.bookworm()
    if fixture.rootfs is None:
        pytest.skip("the bookworm fixture has no extracted rootfs")
    root = fixture.rootfs
    on_disk = {
        str(Path(dirpath, d).relative_to(root)): Path(dirpath, d).lstat().st_mode & 0o7777
        for dirpath, dirnames, _ in os.walk(root)
        for d in dirnames
        if not Path(dirpath, d).is_symlink()
    }
    sticky = buildah.run(["find", str(root), "-mindepth", "1", "-type", "d", "-perm", "-1002"]).split()
    assert len(on_disk) > 500 and len(sticky) >= 2  # debootstrap really made /tmp and /var/tmp 1777
    for spec in (fixture.oci_ref, f"dir:{root}"):
        image = open_image(spec)
        layers = read_layers(image, [config_route()])
        assert {p: m for p, (m, _) in final_dir_modes(layers).items()} == on_disk, spec
        expected = buildah.run(
            ["find", str(root), "-mindepth", "1", "-type", "d", "-perm", "-0002", "!", "-perm", "-1000"]
        )
        found = [f.path or "" for f in check_image(image, layers) if f.id == "IS-IMG-010"]
        assert sorted(found) == sorted(str(Path(p).relative_to(root)) for p in expected.split()), spec
