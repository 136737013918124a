"""Opening images from a real registry: platform choice, layers, diff_ids, verified blobs."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from imgsec.errors import DigestMismatchError, InputError
from imgsec.image.model import OCI_MANIFEST, Image, Platform
from imgsec.image.sources import RegistryOptions, open_image
from imgsec.image.sources.registry import open_registry_image, resolve_digest
from imgsec.reference import parse_reference
from imgsec.registry.auth import Credentials, CredentialStore
from imgsec.registry.client import RegistryClient
from tests.helpers.registry import RegistryServer, build_layout, sha256, skopeo_push

pytestmark = pytest.mark.integration


def plain_client() -> RegistryClient:
    return RegistryClient(CredentialStore(), insecure=True, retries=0)


def layer_files(image: Image, index: int) -> dict[str, bytes]:
    """The files of one layer, read through the source's verifying blob stream."""
    with image.open_blob(image.layers[index].descriptor) as blob:
        data = blob.read()
        assert blob.read() == b""  # EOF: digest and size verified
    out = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tf:
        for member in tf.getmembers():
            fh = tf.extractfile(member)
            if fh is not None:
                out[member.name] = fh.read()
    return out


def test_single_platform_image(registry_plain: RegistryServer, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex.encode()
    built = build_layout(
        tmp_path / "layout", layers=({"etc/a": b"first"}, {"etc/marker": marker}), platforms=("linux/amd64",)
    )
    ref = parse_reference(skopeo_push(built, registry_plain, f"team/single-{uuid.uuid4().hex[:8]}"))
    manifest_digest, config_digest, layer_digests, diff_ids = built.platforms["linux/amd64"]
    with plain_client() as client:
        image = open_registry_image(ref, client, None)
        assert image.manifest_digest == manifest_digest
        assert image.config_digest == config_digest
        assert image.repo_digests == (f"{ref.name}@{manifest_digest}",)
        assert [layer.digest for layer in image.layers] == layer_digests
        assert [layer.diff_id for layer in image.layers] == diff_ids
        # Only history entries that made a layer line up with layers.
        assert [layer.created_by for layer in image.layers] == ["ADD layer0 /", "ADD layer1 /"]
        assert image.platform == Platform("linux", "amd64")
        assert layer_files(image, 1)["etc/marker"] == marker
        assert resolve_digest(ref, client) == manifest_digest


def test_multi_platform_index_picks_requested_platform(
    registry_plain: RegistryServer, tmp_path: Path
) -> None:
    built = build_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8", "linux/arm/v7"))
    ref = parse_reference(skopeo_push(built, registry_plain, f"team/multi-{uuid.uuid4().hex[:8]}"))
    with plain_client() as client:
        arm64 = open_registry_image(ref, client, Platform("linux", "arm64"))
        assert arm64.manifest_digest == built.platforms["linux/arm64/v8"][0]
        assert arm64.repo_digests == (f"{ref.name}@{built.top_digest}",)
        # The layer really is the arm64 one (its content says so).
        assert layer_files(arm64, 0)["etc/platform"] == b"linux/arm64/v8"

        armv7 = open_registry_image(ref, client, Platform.parse("linux/arm/v7"))
        assert armv7.manifest_digest == built.platforms["linux/arm/v7"][0]

        with pytest.raises(InputError) as info:
            open_registry_image(ref, client, Platform("linux", "s390x"))
        for available in ("linux/amd64", "linux/arm64/v8", "linux/arm/v7"):
            assert available in str(info.value)

        assert resolve_digest(ref, client) == built.top_digest
        assert (
            resolve_digest(ref, client, Platform("linux", "arm", "v7")) == built.platforms["linux/arm/v7"][0]
        )


def test_open_image_with_credentials_over_tls(registry_auth_tls: RegistryServer, tmp_path: Path) -> None:
    built = build_layout(tmp_path / "layout")
    ref = skopeo_push(built, registry_auth_tls, f"team/tls-{uuid.uuid4().hex[:8]}")
    options = RegistryOptions(
        username=registry_auth_tls.username,
        password=registry_auth_tls.password,
        ca_cert=registry_auth_tls.ca_cert,
    )
    image = open_image(f"docker://{ref}", registry=options)
    assert image.manifest_digest == built.top_digest
    assert layer_files(image, 0)["etc/hello.txt"] == b"hello\n"


def _push_raw_image(
    client: RegistryClient, repo_ref: str, config: Mapping[str, object], layers: list[tuple[str, bytes]]
) -> str:
    ref = parse_reference(repo_ref)
    config_bytes = json.dumps(config).encode()
    client.push_blob(ref, config_bytes, sha256(config_bytes))
    descs = []
    for media_type, data in layers:
        client.push_blob(ref, data, sha256(data))
        descs.append({"mediaType": media_type, "digest": sha256(data), "size": len(data)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": descs,
    }
    client.push_manifest(ref, json.dumps(manifest).encode(), OCI_MANIFEST)
    return repo_ref


def test_diff_ids_must_match_layers(registry_plain: RegistryServer) -> None:
    layer = uuid.uuid4().bytes
    config = {"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": []}}
    with plain_client() as client:
        text = _push_raw_image(
            client,
            f"{registry_plain.host}/team/bad-{uuid.uuid4().hex[:8]}:v1",
            config,
            [("application/vnd.oci.image.layer.v1.tar", layer)],
        )
        with pytest.raises(InputError, match="diff_ids"):
            open_registry_image(parse_reference(text), client, None)


def test_unknown_layer_media_type_rejected(registry_plain: RegistryServer) -> None:
    layer = uuid.uuid4().bytes
    config = {
        "os": "linux",
        "architecture": "amd64",
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    }
    with plain_client() as client:
        text = _push_raw_image(
            client,
            f"{registry_plain.host}/team/helm-{uuid.uuid4().hex[:8]}:v1",
            config,
            [("application/vnd.cncf.helm.chart.content.v1.tar+gzip", layer)],
        )
        with pytest.raises(InputError, match="unsupported media type"):
            open_registry_image(parse_reference(text), client, None)


def test_tampered_config_on_registry_disk(registry_plain: RegistryServer, tmp_path: Path) -> None:
    built = build_layout(tmp_path / "layout", layers=({"etc/x": uuid.uuid4().hex.encode()},))
    ref = parse_reference(skopeo_push(built, registry_plain, f"team/cfg-{uuid.uuid4().hex[:8]}"))
    config_digest = built.platforms["linux/amd64"][1]
    path = registry_plain.blob_path(config_digest)
    data = path.read_bytes().replace(b'"amd64"', b'"evil1"')
    assert len(data) == len(built.blobs[config_digest])
    path.write_bytes(data)
    with plain_client() as client, pytest.raises(DigestMismatchError, match=config_digest):
        open_registry_image(ref, client, None)


def test_explicit_credentials_beat_files(registry_auth_tls: RegistryServer, tmp_path: Path) -> None:
    built = build_layout(tmp_path / "layout")
    ref = parse_reference(skopeo_push(built, registry_auth_tls, f"team/creds-{uuid.uuid4().hex[:8]}"))
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker/config.json").write_text(
        json.dumps({"auths": {registry_auth_tls.host: {"username": "tester", "password": "stale"}}})
    )
    env = {"HOME": str(home)}
    store = CredentialStore.from_environment(env)
    assert store.get(registry_auth_tls.host).password == "stale"
    store.set(registry_auth_tls.host, Credentials("tester", registry_auth_tls.password))
    with RegistryClient(store, ca_cert=registry_auth_tls.ca_cert, retries=0) as client:
        assert open_registry_image(ref, client, None).manifest_digest == built.top_digest
