"""The cached fixture images are real: independent tools (skopeo, umoci, syft, dpkg-query, zstd) accept them
and find exactly what the builders put in."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.images import FixtureImage

pytestmark = pytest.mark.integration

SYFT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "syft"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert proc.returncode == 0, f"{args} failed: {proc.stderr[-2000:]}"
    return proc.stdout


def _policy(tmp_path: Path) -> Path:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return policy


def _skopeo_inspect(ref: str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_run("skopeo", "inspect", *extra, ref))
    return data


def _syft(source: str, *extra: str) -> list[dict[str, Any]]:
    out = _run(SYFT, source, "-o", "syft-json", "-q", *extra, env={"SYFT_CHECK_FOR_APP_UPDATE": "false"})
    artifacts: list[dict[str, Any]] = json.loads(out)["artifacts"]
    return artifacts


def _by_type(artifacts: list[dict[str, Any]], kind: str) -> dict[str, str]:
    return {a["name"]: a["version"] for a in artifacts if a["type"] == kind}


# --- bookworm --------------------------------------------------------------------------------------


def test_bookworm_is_one_layer_root_bash_in_every_transport(bookworm_image: FixtureImage) -> None:
    assert bookworm_image.oci_archive is not None and bookworm_image.docker_archive is not None
    for ref in (
        bookworm_image.oci_ref,
        f"oci-archive:{bookworm_image.oci_archive}",
        f"docker-archive:{bookworm_image.docker_archive}",
    ):
        inspected = _skopeo_inspect(ref)
        assert len(inspected["Layers"]) == 1, ref
        assert inspected["Os"] == "linux"
        config = _skopeo_inspect(ref, "--config")["config"]
        assert config.get("User", "") == "", ref
        assert config["Cmd"] == ["/bin/bash"], ref


def test_bookworm_umoci_stat_reads_the_layout(bookworm_image: FixtureImage) -> None:
    stat_json = json.loads(
        _run("umoci", "stat", "--json", "--image", f"{bookworm_image.layout}:{bookworm_image.tag}")
    )
    non_empty = [h for h in stat_json["history"] if not h.get("empty_layer")]
    assert len(non_empty) == 1
    assert "debootstrap" in non_empty[0]["created_by"]


def test_bookworm_rootfs_is_debian_12_minbase_without_apt_lists(bookworm_image: FixtureImage) -> None:
    rootfs = bookworm_image.rootfs
    assert rootfs is not None
    os_release = (rootfs / "etc/os-release").read_text()
    assert 'VERSION_ID="12"' in os_release and "ID=debian" in os_release
    assert not any(p.name != "partial" for p in (rootfs / "var/lib/apt/lists").iterdir())
    assert not list((rootfs / "var/cache/apt").glob("*.bin"))
    assert (rootfs / "bin/bash").exists()


def test_bookworm_syft_sees_the_same_packages_as_dpkg_query(bookworm_image: FixtureImage) -> None:
    assert bookworm_image.rootfs is not None
    listed = _run(
        "dpkg-query",
        "--admindir",
        bookworm_image.rootfs / "var/lib/dpkg",
        "-W",
        "-f",
        "${Package}\t${Version}\n",
    )
    dpkg = dict(line.split("\t") for line in listed.splitlines())
    assert 80 <= len(dpkg) <= 110  # minbase bookworm has ~88 packages
    assert _by_type(_syft(f"oci-dir:{bookworm_image.layout}"), "deb") == dpkg


# --- langs -----------------------------------------------------------------------------------------


def test_langs_layers_and_user_in_every_transport(langs_image: FixtureImage) -> None:
    info = langs_image.load_info()
    assert langs_image.oci_archive is not None and langs_image.docker_archive is not None
    for ref in (
        langs_image.oci_ref,
        f"oci-archive:{langs_image.oci_archive}",
        f"docker-archive:{langs_image.docker_archive}",
    ):
        assert len(_skopeo_inspect(ref)["Layers"]) == info["layers"] == 7, ref
        assert _skopeo_inspect(ref, "--config")["config"]["User"] == "1000", ref
    stat_json = json.loads(
        _run("umoci", "stat", "--json", "--image", f"{langs_image.layout}:{langs_image.tag}")
    )
    assert len([h for h in stat_json["history"] if not h.get("empty_layer")]) == 7


def test_langs_syft_finds_every_installed_package(langs_image: FixtureImage) -> None:
    info: dict[str, Any] = langs_image.load_info()
    artifacts = _syft(f"oci-dir:{langs_image.layout}")

    python = {name.lower(): version for name, version in _by_type(artifacts, "python").items()}
    assert python == {name.lower(): version for name, version in info["pypi"].items()}
    egg = [a for a in artifacts if a["type"] == "python" and a["name"].lower() == "pyjwt"]
    assert egg and ".egg-info" in egg[0]["locations"][0]["path"]

    npm = _by_type(artifacts, "npm")
    for name, version in info["npm"].items():
        assert npm.get(name) == version, name

    go = {a["name"]: a["version"] for a in artifacts if a["type"] == "go-module"}
    assert go[info["go"]["main"]] == "(devel)"
    for module, version in info["go"]["deps"].items():
        assert go[module] == version
    assert go["stdlib"].startswith("go1.19")

    java = {(a["name"], a["version"]) for a in artifacts if a["type"] == "java-archive"}
    for coord, fact in info["java"].items():
        assert (coord.split(":")[1], fact["version"]) in java, coord

    assert _by_type(artifacts, "gem") == info["gem"]

    rust = _by_type(artifacts, "rust-crate")
    for name, version in info["rust"]["packages"].items():
        assert rust.get(name) == version, name


def test_langs_go_binary_is_static_with_recorded_deps(langs_image: FixtureImage, tmp_path: Path) -> None:
    info: dict[str, Any] = langs_image.load_info()
    binary = _extract_from_layers(
        langs_image.layout, langs_image.tag, info["go"]["binary"].lstrip("/"), tmp_path
    )
    shown = _run("go", "version", "-m", binary)
    for module, version in info["go"]["deps"].items():
        assert f"dep\t{module}\t{version}" in shown
    assert "CGO_ENABLED=0" in shown
    assert binary.read_bytes()[:4] == b"\x7fELF"


def _extract_from_layers(layout: Path, tag: str, member: str, dest: Path) -> Path:
    """The last copy of ``member`` across the image's gzip layers (no whiteout handling needed here)."""
    index = json.loads((layout / "index.json").read_text())
    desc = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((layout / "blobs/sha256" / desc["digest"].split(":")[1]).read_text())
    found: bytes | None = None
    for layer in manifest["layers"]:
        with tarfile.open(layout / "blobs/sha256" / layer["digest"].split(":")[1], "r:gz") as tar:
            for entry in tar:
                if entry.name.lstrip("./") == member and entry.isfile():
                    extracted = tar.extractfile(entry)
                    assert extracted is not None
                    found = extracted.read()
    assert found is not None, member
    out = dest / Path(member).name
    out.write_bytes(found)
    out.chmod(0o755)  # `go version` skips files that are not executable
    return out


# --- tricky ----------------------------------------------------------------------------------------


def _walk(rootfs: Path) -> dict[str, Any]:
    dirs, files, symlinks = [], {}, {}
    for path in sorted(rootfs.rglob("*")):
        rel = str(path.relative_to(rootfs))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            symlinks[rel] = os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            dirs.append(rel)
        else:
            data = path.read_bytes()
            mode = oct(stat.S_IMODE(st.st_mode))
            files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "mode": mode}
    return {"dirs": sorted(dirs), "files": files, "symlinks": symlinks}


def test_tricky_expected_matches_umoci_unpack(tricky_image: FixtureImage, tmp_path: Path) -> None:
    """umoci (an independent OCI applier) produces exactly the filesystem expected.json describes."""
    expected: dict[str, Any] = tricky_image.load_expected()["final"]
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--image", f"{tricky_image.layout}:{tricky_image.tag}", bundle)
    rootfs = bundle / "rootfs"
    actual = _walk(rootfs)
    assert actual["dirs"] == expected["dirs"]
    assert actual["files"] == expected["files"]
    assert actual["symlinks"] == expected["symlinks"]
    for link, target in expected["hardlinks"].items():
        assert (rootfs / link).stat().st_ino == (rootfs / target).stat().st_ino
    for gone in expected["absent"]:
        assert not (rootfs / gone).exists() and not (rootfs / gone).is_symlink(), gone


def test_tricky_gzip_and_zstd_layers_have_the_configured_diff_ids(
    tricky_image: FixtureImage, tricky_zstd_image: FixtureImage, tmp_path: Path
) -> None:
    expected_diff_ids = tricky_image.load_expected()["diff_ids"]
    for image, decompress in ((tricky_image, "gzip"), (tricky_zstd_image, "zstd")):
        raw = _skopeo_inspect(image.oci_ref, "--raw")
        config = _skopeo_inspect(image.oci_ref, "--config")
        assert config["rootfs"]["diff_ids"] == expected_diff_ids
        assert len(raw["layers"]) == 3
        assert {layer["mediaType"] for layer in raw["layers"]} == {
            f"application/vnd.oci.image.layer.v1.tar+{decompress}"
        }
        diff_ids = []
        for layer in raw["layers"]:
            blob = image.layout / "blobs/sha256" / layer["digest"].split(":")[1]
            if decompress == "gzip":
                tar = gzip.decompress(blob.read_bytes())
            else:
                tar = subprocess.run(["zstd", "-d", "-c", blob], capture_output=True, check=True).stdout
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        assert diff_ids == expected_diff_ids
        # skopeo verifies every blob digest while copying.
        _run(
            "skopeo",
            "--policy",
            _policy(tmp_path),
            "copy",
            "-q",
            image.oci_ref,
            f"dir:{tmp_path / decompress}",
        )


def test_tricky_syft_agrees_on_packages_by_layer(tricky_image: FixtureImage) -> None:
    expected: dict[str, Any] = tricky_image.load_expected()
    squashed = _syft(f"oci-dir:{tricky_image.layout}")
    assert _by_type(squashed, "deb") == {p["name"]: p["version"] for p in expected["dpkg"]}
    assert _by_type(squashed, "python") == {}
    every_layer = _syft(f"oci-dir:{tricky_image.layout}", "--scope", "all-layers")
    seen = {(a["type"], a["name"], a["version"]) for a in every_layer}
    for old in expected["dpkg_history"]:
        assert ("deb", old["name"], old["version"]) in seen
    for deleted in expected["python"]["deleted"]:
        assert ("python", deleted["name"], deleted["version"]) in seen


def test_tricky_secrets_exist_in_the_layers_they_claim(tricky_image: FixtureImage) -> None:
    expected: dict[str, Any] = tricky_image.load_expected()
    index = json.loads((tricky_image.layout / "index.json").read_text())
    manifest = json.loads(
        (tricky_image.layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text()
    )
    layers = []
    for layer in manifest["layers"]:
        with tarfile.open(tricky_image.layout / "blobs/sha256" / layer["digest"][7:], "r:gz") as tar:
            members = {}
            for entry in tar:
                fh = tar.extractfile(entry) if entry.isfile() else None
                members[entry.name] = fh.read() if fh else b""
            layers.append(members)
    for secret in expected["secrets"]:
        assert secret["match"].encode() in layers[secret["layer"]][secret["path"]]
        if secret["deleted_in_layer"] is not None:
            whiteout = str(Path(secret["path"]).parent / (".wh." + Path(secret["path"]).name))
            assert whiteout in layers[secret["deleted_in_layer"]]
    rsa = layers[0]["root/.ssh/id_rsa"]
    proc = subprocess.run(["openssl", "rsa", "-check", "-noout"], input=rsa, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr


# --- multiplatform ---------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64/v8"])
def test_multiplatform_one_tag_resolves_per_platform(
    multiplatform_image: FixtureImage, platform: str, tmp_path: Path
) -> None:
    expected: dict[str, Any] = multiplatform_image.load_expected()
    raw = _skopeo_inspect(multiplatform_image.oci_ref, "--raw")
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert {str(m["platform"]["architecture"]) for m in raw["manifests"]} == {"amd64", "arm64"}
    _os, arch, *variant = platform.split("/")
    args = ["--override-os", "linux", "--override-arch", arch]
    if variant:
        args += ["--override-variant", variant[0]]
    dest = tmp_path / "copy"
    _run(
        "skopeo",
        "--policy",
        _policy(tmp_path),
        *args,
        "copy",
        "-q",
        multiplatform_image.oci_ref,
        f"dir:{dest}",
    )
    manifest_bytes = (dest / "manifest.json").read_bytes()
    want = expected["platforms"][platform]
    assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == want["manifest_digest"]
    layer_digest = json.loads(manifest_bytes)["layers"][0]["digest"][7:]
    with tarfile.open(dest / layer_digest, "r:gz") as tar:
        marker = tar.extractfile("etc/platform")
        assert marker is not None
        assert marker.read().decode() == want["etc/platform"]
        assert want["only_file"] in tar.getnames()
