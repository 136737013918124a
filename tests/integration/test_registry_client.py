"""The registry client against real docker-registry processes in each auth mode."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from imgsec.errors import AuthenticationError, DigestMismatchError, ExternalError, NotFoundError
from imgsec.image.model import OCI_INDEX, OCI_MANIFEST, Descriptor
from imgsec.reference import parse_reference
from imgsec.registry.auth import Credentials, CredentialStore
from imgsec.registry.client import RegistryClient
from tests.helpers.registry import (
    RegistryServer,
    build_layout,
    sha256,
    skopeo_push,
    start_registry,
)

pytestmark = pytest.mark.integration
MODES = ["registry_plain", "registry_auth_tls", "registry_token"]


def client_for(server: RegistryServer, *, password: str | None = None, **kwargs: object) -> RegistryClient:
    store = CredentialStore()
    if server.username is not None:
        store.set(server.host, Credentials(server.username, password or server.password, source="test"))
    kwargs.setdefault("insecure", server.ca_cert is None)
    kwargs.setdefault("ca_cert", server.ca_cert)
    kwargs.setdefault("retries", 0)
    return RegistryClient(store, **kwargs)  # type: ignore[arg-type]


def unique_repo(prefix: str = "team") -> str:
    return f"{prefix}/app-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("mode", MODES)
def test_pull_manifest_config_and_layer_in_each_auth_mode(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: RegistryServer = request.getfixturevalue(mode)
    marker = uuid.uuid4().hex.encode()
    image = build_layout(tmp_path / "layout", layers=({"etc/marker": marker},))
    ref = parse_reference(skopeo_push(image, server, unique_repo()))
    manifest_digest, config_digest, layer_digests, _ = image.platforms["linux/amd64"]
    with client_for(server) as client:
        fetched = client.get_manifest(ref)
        assert fetched.digest == manifest_digest == image.top_digest
        assert fetched.media_type == OCI_MANIFEST
        assert sha256(fetched.data) == manifest_digest
        assert client.head_manifest(ref).digest == manifest_digest
        by_digest = client.get_manifest(ref.with_tag(None).with_digest(manifest_digest))
        assert by_digest.data == fetched.data

        manifest = json.loads(fetched.data)
        config_desc = Descriptor(OCI_MANIFEST, config_digest, manifest["config"]["size"])
        assert client.get_blob_bytes(ref, config_desc) == image.blobs[config_digest]
        layer = manifest["layers"][0]
        with client.get_blob(ref, Descriptor(layer["mediaType"], layer["digest"], layer["size"])) as reader:
            assert reader.read() == image.blobs[layer_digests[0]]
        assert client.blob_exists(ref, layer_digests[0])
        assert not client.blob_exists(ref, sha256(b"never pushed"))
        assert client.list_tags(ref) == ["v1"]
        # docker-registry 2.8 has no referrers API: callers must fall back to tags.
        assert client.referrers(ref, manifest_digest) is None


@pytest.mark.parametrize("mode", ["registry_auth_tls", "registry_token"])
def test_wrong_password_is_an_authentication_error(mode: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue(mode)
    ref = parse_reference(f"{server.host}/team/whatever:v1")
    with client_for(server, password="wrong-password") as client, pytest.raises(AuthenticationError) as info:
        client.get_manifest(ref)
    assert "imgsec registry login" in str(info.value)
    assert "wrong-password" not in str(info.value)
    assert info.value.exit_code == 2


def test_no_credentials_for_basic_auth_registry(registry_auth_tls: RegistryServer) -> None:
    ref = parse_reference(f"{registry_auth_tls.host}/team/whatever:v1")
    client = RegistryClient(CredentialStore(), ca_cert=registry_auth_tls.ca_cert, retries=0)
    with client, pytest.raises(AuthenticationError, match="imgsec registry login"):
        client.get_manifest(ref)


def test_tls_without_ca_cert_mentions_ca_cert(registry_auth_tls: RegistryServer) -> None:
    ref = parse_reference(f"{registry_auth_tls.host}/team/whatever:v1")
    with RegistryClient(CredentialStore(), retries=0) as client, pytest.raises(ExternalError) as info:
        client.get_manifest(ref)
    assert "--ca-cert" in str(info.value)
    assert info.value.exit_code == 3


def test_insecure_skips_tls_verification(registry_auth_tls: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    ref = parse_reference(skopeo_push(image, registry_auth_tls, unique_repo()))
    with client_for(registry_auth_tls, insecure=True, ca_cert=None) as client:
        assert client.get_manifest(ref).digest == image.top_digest
        assert client.ping(registry_auth_tls.host).scheme == "https"


def test_plain_http_refused_unless_insecure(registry_plain: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    with RegistryClient(CredentialStore(), retries=0) as client, pytest.raises(ExternalError) as info:
        client.get_manifest(ref)
    assert "--insecure" in str(info.value)
    with RegistryClient(CredentialStore(), insecure=True, retries=0) as client:
        assert client.get_manifest(ref).digest == image.top_digest
        assert client.ping(registry_plain.host).scheme == "http"


def test_missing_tag_and_repo_are_not_found(registry_plain: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    with client_for(registry_plain) as client:
        with pytest.raises(NotFoundError, match="MANIFEST_UNKNOWN"):
            client.get_manifest(ref.with_tag("nope"))
        with pytest.raises(NotFoundError):
            client.head_manifest(parse_reference(f"{registry_plain.host}/no/such-repo:v1"))
        missing = Descriptor("application/octet-stream", sha256(b"x"), 1)
        with pytest.raises(NotFoundError), client.get_blob(ref, missing):
            pass


def test_corrupted_blob_on_registry_disk_is_detected(registry_plain: RegistryServer, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex.encode()
    image = build_layout(tmp_path / "layout", layers=({"etc/marker": marker * 20},))
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    _, _, layer_digests, _ = image.platforms["linux/amd64"]
    path = registry_plain.blob_path(layer_digests[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    desc = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer_digests[0], len(data))
    with (
        client_for(registry_plain) as client,
        client.get_blob(ref, desc) as reader,
        pytest.raises(DigestMismatchError, match=layer_digests[0]),
    ):
        while reader.read(4096):
            pass


def test_tampered_manifest_in_registry_storage_is_detected(
    registry_plain: RegistryServer, tmp_path: Path
) -> None:
    image = build_layout(tmp_path / "layout", layers=({"etc/marker": uuid.uuid4().hex.encode()},))
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    path = registry_plain.blob_path(image.top_digest)
    doc = json.loads(path.read_bytes())
    doc["annotations"] = {"evil": "x"}
    path.write_bytes(json.dumps(doc).encode())
    with client_for(registry_plain) as client:
        with pytest.raises(DigestMismatchError):
            client.get_manifest(ref)  # by tag: Docker-Content-Digest no longer matches the bytes
        with pytest.raises(DigestMismatchError):
            client.get_manifest(ref.with_tag(None).with_digest(image.top_digest))


@pytest.mark.parametrize("mode", MODES)
def test_push_with_client_then_read_back_with_skopeo(mode: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue(mode)
    repo = unique_repo()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    config_bytes = config.encode()
    layer = uuid.uuid4().bytes * 100
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": 1}
        ],
    }
    manifest["layers"][0]["size"] = len(layer)  # type: ignore[index]
    manifest_bytes = json.dumps(manifest).encode()
    ref = parse_reference(f"{server.host}/{repo}:pushed")
    with client_for(server) as client:
        client.push_blob(ref, config_bytes, sha256(config_bytes))
        stream_path = Path(request.getfixturevalue("tmp_path")) / "layer.bin"
        stream_path.write_bytes(layer)
        with stream_path.open("rb") as fh:
            client.push_blob(ref, fh, sha256(layer), size=len(layer))
        digest = client.push_manifest(ref, manifest_bytes, OCI_MANIFEST)
        assert digest == sha256(manifest_bytes)
        client.push_blob(ref, config_bytes, sha256(config_bytes))  # already there: no error
    cmd = ["skopeo", "inspect", "--raw", f"docker://{ref}"]
    cmd += ["--cert-dir", str(server.cert_dir)] if server.cert_dir else ["--tls-verify=false"]
    if server.username:
        cmd += ["--creds", f"{server.username}:{server.password}"]
    raw = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    assert raw == manifest_bytes
    if server.token_service is not None:
        scopes = [s for r in server.token_service.requests for s in r["scopes"] if repo in s]
        assert f"repository:{repo}:pull,push" in scopes


def test_token_scopes_and_anonymous_public_pull(registry_token: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    public_repo = unique_repo("public")
    ref = parse_reference(skopeo_push(image, registry_token, public_repo))
    token_service = registry_token.token_service
    assert token_service is not None
    before = len(token_service.requests)
    with RegistryClient(CredentialStore(), insecure=True, retries=0) as anonymous:
        assert anonymous.get_manifest(ref).digest == image.top_digest
        # Tokens are cached per scope: a second pull needs no new token.
        anonymous.get_manifest(ref)
    new = token_service.requests[before:]
    assert [r["scopes"] for r in new] == [[f"repository:{public_repo}:pull"]]
    assert new[0]["account"] is None

    private_ref = parse_reference(skopeo_push(image, registry_token, unique_repo("team")))
    anonymous = RegistryClient(CredentialStore(), insecure=True, retries=0)
    with anonymous, pytest.raises(AuthenticationError):
        anonymous.get_manifest(private_ref)


def test_token_service_answering_access_token_only(tmp_path: Path) -> None:
    server = start_registry(tmp_path, "token", token_field="access_token")
    try:
        image = build_layout(tmp_path / "layout")
        ref = parse_reference(skopeo_push(image, server, unique_repo()))
        with client_for(server) as client:
            assert client.get_manifest(ref).digest == image.top_digest
    finally:
        server.stop()


def test_list_tags_follows_pagination_and_delete(registry_plain: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    with client_for(registry_plain) as client:
        fetched = client.get_manifest(ref)
        tags = [f"t{i}" for i in range(7)]
        for tag in tags:
            client.push_manifest(ref.with_tag(tag), fetched.data, fetched.media_type)
        assert sorted(client.list_tags(ref, page_size=2)) == sorted([*tags, "v1"])
        client.delete_manifest(ref.with_tag(None).with_digest(fetched.digest))
        with pytest.raises(NotFoundError):
            client.get_manifest(ref)


def test_multi_platform_index_is_served_as_index(registry_plain: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout", platforms=("linux/amd64", "linux/arm64/v8"))
    ref = parse_reference(skopeo_push(image, registry_plain, unique_repo()))
    with client_for(registry_plain) as client:
        fetched = client.get_manifest(ref)
        assert fetched.media_type == OCI_INDEX
        assert fetched.digest == image.top_digest
        listed = {m["digest"] for m in json.loads(fetched.data)["manifests"]}
        assert listed == {v[0] for v in image.platforms.values()}


def test_unreachable_registry_is_external_error() -> None:
    from tests.helpers.registry import free_port

    ref = parse_reference(f"127.0.0.1:{free_port()}/team/app:v1")
    client = RegistryClient(CredentialStore(), retries=1, backoff=0.01)
    with client, pytest.raises(ExternalError, match="cannot reach registry"):
        client.get_manifest(ref)


def test_identity_token_is_exchanged_with_oauth2(registry_token: RegistryServer, tmp_path: Path) -> None:
    image = build_layout(tmp_path / "layout")
    repo = unique_repo()
    ref = parse_reference(skopeo_push(image, registry_token, repo))
    store = CredentialStore()
    store.set(registry_token.host, Credentials(identity_token=f"refresh-{registry_token.username}"))
    with RegistryClient(store, insecure=True, retries=0) as client:
        assert client.get_manifest(ref).digest == image.top_digest
    assert registry_token.token_service is not None
    last = registry_token.token_service.requests[-1]
    assert last.get("grant") == "refresh_token"
    assert last["scopes"] == [f"repository:{repo}:pull"]
    store.set(registry_token.host, Credentials(identity_token="refresh-someone-else"))
    client = RegistryClient(store, insecure=True, retries=0)
    with client, pytest.raises(AuthenticationError):
        client.get_manifest(ref)


@pytest.mark.parametrize("mode", ["registry_plain", "registry_token"])
def test_cross_repository_mount(mode: str, request: pytest.FixtureRequest) -> None:
    server: RegistryServer = request.getfixturevalue(mode)
    blob = uuid.uuid4().bytes * 64
    source = parse_reference(f"{server.host}/{unique_repo()}:x")
    target = parse_reference(f"{server.host}/{unique_repo()}:x")
    with client_for(server) as client:
        client.push_blob(source, blob, sha256(blob))
        assert not client.blob_exists(target, sha256(blob))
        client.push_blob(target, blob, sha256(blob), mount_from=source)
        assert client.blob_exists(target, sha256(blob))
        with client.get_blob(target, Descriptor("application/octet-stream", sha256(blob), len(blob))) as r:
            assert r.read() == blob
    if server.token_service is not None:
        mount_request = [r["scopes"] for r in server.token_service.requests if len(r["scopes"]) == 2][-1]
        assert sorted(mount_request) == sorted(
            [f"repository:{target.repository}:pull,push", f"repository:{source.repository}:pull"]
        )
