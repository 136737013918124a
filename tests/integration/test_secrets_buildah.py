"""Secrets and misconfigurations in a REAL image built by buildah from a Dockerfile.

The Dockerfile copies a private key (made by ``openssl genpkey`` at build time, never committed)
into ``/root/.ssh/id_rsa``, deletes it in the next ``RUN``, bakes a GitHub-format token into
``ENV`` and passes a password as a build ``ARG``.  The rootfs is tiny: the host's ``dash`` and
``rm`` with the libraries ``ldd`` names, enough for ``RUN`` under ``--isolation chroot``.
Expectations come from the image itself, read with ``tarfile``/``gzip`` (which layer holds the
key, which holds the whiteout), and from GNU ``find`` on the real bookworm rootfs for setuid bits.
The built image is cached under ``~/.cache/imgsec-test-fixtures/`` keyed by the Dockerfile and
this builder's source.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import inspect
import io
import json
import secrets
import shutil
import string
import tarfile
from pathlib import Path
from typing import Any

import pytest

from imgsec.findings import Severity
from imgsec.image.config_checks import check_image, config_route
from imgsec.image.layers import read_layers
from imgsec.image.sources import open_image
from imgsec.secrets import config_secrets, find_image_secrets, secret_route
from tests.fixtures._cache import cached_build
from tests.helpers import buildah

pytestmark = pytest.mark.integration

DOCKERFILE = """\
FROM scratch
ADD rootfs.tar /
COPY id_rsa /root/.ssh/id_rsa
ARG DEPLOY_PASSWORD={password}
RUN rm /root/.ssh/id_rsa
ENV API_TOKEN={token}
"""
TAG = "secrets"


def _tiny_rootfs(root: Path) -> None:
    """/bin/sh (dash) and /bin/rm from the host, with the shared libraries ldd says they need."""
    buildah.tiny_rootfs(root, (("sh", "/usr/bin/dash"), ("rm", "/usr/bin/rm")))
    (root / "root").mkdir(mode=0o700)


def _build(out: Path) -> None:
    ctx = out / "ctx"
    rootfs = out / "rootfs"
    _tiny_rootfs(rootfs)
    ctx.mkdir()
    with tarfile.open(ctx / "rootfs.tar", "w") as tar:
        tar.add(rootfs, arcname=".")
    shutil.rmtree(rootfs)
    buildah.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(ctx / "id_rsa"),
        ]
    )
    alnum = string.ascii_letters + string.digits
    facts = {
        "token": "ghp_" + "".join(secrets.choice(alnum) for _ in range(36)),
        "password": "".join(secrets.choice(alnum) for _ in range(16)),
    }
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(**facts))
    buildah.build_oci_layout(ctx, out, "imgsec-secrets", TAG)
    (out / "facts.json").write_text(json.dumps(facts))
    lines = (ctx / "id_rsa").read_text().splitlines()
    (out / "facts-key.json").write_text(json.dumps({"body_first_line": lines[1]}))


@pytest.fixture(scope="module")
def built() -> Path:
    for tool in ("buildah", "openssl", "ldd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed (apt-get install buildah openssl)")
    key = hashlib.sha256(
        (
            DOCKERFILE
            + inspect.getsource(_build)
            + inspect.getsource(_tiny_rootfs)
            + inspect.getsource(buildah)
        ).encode()
    )
    return cached_build("secrets-buildah", key.hexdigest()[:16], _build)


def _layers_by_tar(layout: Path) -> list[tuple[str, set[str]]]:
    """(diff_id, member names) of each layer, read with the standard library only."""
    index = json.loads((layout / "index.json").read_text())
    blob = layout / "blobs" / "sha256"
    manifest = json.loads((blob / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    out = []
    for desc in manifest["layers"]:
        data = (blob / desc["digest"].split(":")[1]).read_bytes()
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            names = {m.name.lstrip("./") for m in tar.getmembers()}
        out.append(("sha256:" + hashlib.sha256(raw).hexdigest(), names))
    return out


def test_buildah_image_secrets_layers_and_redaction(built: Path) -> None:
    facts: dict[str, Any] = json.loads((built / "facts.json").read_text())
    key_line = json.loads((built / "facts-key.json").read_text())["body_first_line"]
    layout = built / "layout"
    by_tar = _layers_by_tar(layout)
    key_layer = [i for i, (_, names) in enumerate(by_tar) if "root/.ssh/id_rsa" in names]
    whiteout_layer = [i for i, (_, names) in enumerate(by_tar) if "root/.ssh/.wh.id_rsa" in names]
    assert len(key_layer) == 1 and len(whiteout_layer) == 1 and whiteout_layer[0] > key_layer[0]

    image = open_image(f"oci:{layout}:{TAG}")
    layers = read_layers(image, [secret_route(), config_route()])
    file_findings = find_image_secrets(image, layers)
    [key] = [f for f in file_findings if f.path == "root/.ssh/id_rsa"]
    assert key.id == "IS-SEC-005" and key.severity is Severity.HIGH
    assert key.deleted is True
    assert (key.layer_index, key.layer) == (key_layer[0], by_tar[key_layer[0]][0])
    assert key.match.startswith(key_line[:4]) and "****" in key.match
    assert file_findings == [key]  # nothing else in the tiny rootfs

    cfg_findings = config_secrets(image)
    [token] = [f for f in cfg_findings if f.source == "config.Env"]
    assert (token.id, token.path, token.severity) == ("IS-SEC-006", "API_TOKEN", Severity.CRITICAL)
    assert token.match == "ghp_****(40)"
    # The ARG value is only in the history of the RUN step that used it (the whiteout's layer).
    [arg] = [f for f in cfg_findings if f.source == "config.history"]
    assert arg.layer == by_tar[whiteout_layer[0]][0]
    assert len(cfg_findings) == 2  # the ENV token is not reported twice (Env and history)

    everything = [*file_findings, *cfg_findings]
    dumped = repr(everything) + json.dumps([dataclasses.asdict(f) for f in everything], default=str)
    for secret in (facts["token"], facts["token"][4:], facts["password"], key_line):
        assert secret not in dumped

    misconfig = {f.id for f in check_image(image, layers)}
    assert {"IS-IMG-002", "IS-IMG-008"} <= misconfig  # runs as root (no USER), no HEALTHCHECK
    assert "IS-IMG-006" in misconfig  # a shell in an image without any package database


def test_setuid_files_match_find_on_the_real_bookworm_rootfs() -> None:
    from tests.fixtures import images

    fixture = images.bookworm()
    if fixture.rootfs is None:
        pytest.skip("the bookworm fixture has no extracted rootfs")
    out = buildah.run(["find", str(fixture.rootfs), "-xdev", "-type", "f", "-perm", "/6000"])
    expected = sorted(str(Path(p).relative_to(fixture.rootfs)) for p in out.split())
    image = open_image(fixture.oci_ref)
    findings = check_image(image, read_layers(image, [config_route()]))
    assert expected, "find saw no setuid/setgid file: the fixture lost its modes"
    assert sorted(f.path or "" for f in findings if f.id == "IS-IMG-003") == expected


_KIND_TO_RULE = {
    "aws-access-key-id": "IS-SEC-001",
    "aws-secret-access-key": "IS-SEC-002",
    "rsa-private-key": "IS-SEC-005",
    "github-pat": "IS-SEC-006",
}


@pytest.mark.parametrize("variant", ["tricky", "tricky_zstd"])
def test_tricky_fixture_secrets_match_its_builders_expectations(variant: str) -> None:
    """The tricky fixture's builder records each secret it planted, its layer and its deletion."""
    from tests.fixtures import images

    fixture = getattr(images, variant)()
    expected = fixture.load_expected()["secrets"]
    image = open_image(fixture.oci_ref)
    findings = find_image_secrets(image, read_layers(image, [secret_route()]))
    got = sorted((f.id, f.path, f.layer_index, f.deleted) for f in findings)
    want = sorted(
        (_KIND_TO_RULE[e["kind"]], e["path"], e["layer"], e["deleted_in_layer"] is not None) for e in expected
    )
    assert got == want
    dumped = repr(findings)
    for e in expected:
        if not e["match"].startswith("-----"):
            assert e["match"] not in dumped and e["match"][4:] not in dumped
            [f] = [f for f in findings if f.id == _KIND_TO_RULE[e["kind"]]]
            assert f.match == f"{e['match'][:4]}****({len(e['match'])})"
