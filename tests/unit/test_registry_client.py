"""Client behaviour a real docker-registry never shows: flaky, rate-limited, oversize, redirecting, lying.

The server here is a real HTTP server (stdlib, in a thread) speaking the distribution API badly on
purpose; the client is exercised over real sockets, nothing is patched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from imgsec.errors import AuthenticationError, DigestMismatchError, ExternalError, InputError
from imgsec.image.model import MAX_DOCUMENT_SIZE, OCI_MANIFEST, Descriptor
from imgsec.reference import parse_reference
from imgsec.registry.auth import Credentials, CredentialStore
from imgsec.registry.client import RegistryClient, parse_challenge

USER, PASSWORD = "u", "p@ss:word"
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
BLOB = b"layer bytes " * 1000


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_parse_challenge_bearer_and_basic() -> None:
    c = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    assert c is not None
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.example.com/token"
    assert c.params["scope"] == "repository:a/b:pull,push repository:c:pull"
    assert c.params["service"] == "registry.example.com"
    basic = parse_challenge('Basic realm="Registry \\"Realm\\""')
    assert basic is not None
    assert (basic.scheme, basic.realm) == ("basic", 'Registry "Realm"')
    assert parse_challenge("") is None


@dataclass
class Faulty:
    """State shared with the handler: request counts and the headers storage received."""

    port: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    storage_auth: list[str | None] = field(default_factory=list)


def _handler(state: Faulty) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path
            state.counts[path.split("?")[0]] = state.counts.get(path.split("?")[0], 0) + 1
            if path.startswith("/storage/"):
                state.storage_auth.append(self.headers.get("Authorization"))
                self.send(200, BLOB)
                return
            if self.headers.get("Authorization") != expected:
                self.send(401, b"{}", {"WWW-Authenticate": 'Basic realm="faulty"'})
                return
            n = state.counts[path.split("?")[0]]
            if path == "/v2/":
                self.send(200, b"{}")
            elif path == "/v2/flaky/manifests/v1":
                if n <= 2:
                    self.send(503, b'{"errors":[{"code":"UNAVAILABLE"}]}', {"Retry-After": "0"})
                else:
                    self.send(
                        200,
                        MANIFEST,
                        {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(MANIFEST)},
                    )
            elif path == "/v2/limited/manifests/v1":
                self.send(429, b"{}", {"Retry-After": "3600"})
            elif path == "/v2/big/manifests/v1":
                big = b" " * (MAX_DOCUMENT_SIZE + 10)
                self.send(200, big, {"Content-Type": OCI_MANIFEST})
            elif path == "/v2/big-chunked/manifests/v1":
                # HTTP/1.0 without Content-Length: the body runs until the connection closes.
                self.send_response(200)
                self.send_header("Content-Type", OCI_MANIFEST)
                self.end_headers()
                for _ in range(MAX_DOCUMENT_SIZE // 65536 + 2):
                    self.wfile.write(b" " * 65536)
            elif path == "/v2/liar/manifests/v1":
                self.send(
                    200, MANIFEST, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest(b"other")}
                )
            elif path.startswith("/v2/redirect/blobs/"):
                self.send(307, b"", {"Location": f"http://localhost:{state.port}/storage/blob"})
            elif path.startswith("/v2/loop/tags/list"):
                self.send(200, b'{"tags":["a"]}', {"Link": '</v2/loop/tags/list?n=1&last=a>; rel="next"'})
            else:
                self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}')

    return Handler


@pytest.fixture(scope="module")
def faulty() -> Iterator[Faulty]:
    state = Faulty()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def ref(faulty: Faulty, rest: str) -> Any:
    return parse_reference(f"127.0.0.1:{faulty.port}/{rest}")


@pytest.fixture
def creds_for_port(faulty: Faulty) -> CredentialStore:
    store = CredentialStore()
    store.set(f"127.0.0.1:{faulty.port}", Credentials(USER, PASSWORD))
    return store


def test_retries_5xx_then_succeeds(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    with RegistryClient(creds_for_port, insecure=True, retries=3, backoff=0.01) as c:
        fetched = c.get_manifest(ref(faulty, "flaky:v1"))
    assert fetched.digest == digest(MANIFEST)
    assert faulty.counts["/v2/flaky/manifests/v1"] == 3


def test_rate_limit_gives_up_with_capped_retry_after(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    started = time.monotonic()
    with (
        RegistryClient(creds_for_port, insecure=True, retries=2, max_retry_after=0.05) as c,
        pytest.raises(ExternalError, match="rate limiting") as info,
    ):
        c.get_manifest(ref(faulty, "limited:v1"))
    assert info.value.exit_code == 3
    assert time.monotonic() - started < 5  # Retry-After: 3600 was capped
    assert faulty.counts["/v2/limited/manifests/v1"] == 3


@pytest.mark.parametrize("repo", ["big", "big-chunked"])
def test_oversize_manifest_rejected(faulty: Faulty, creds_for_port: CredentialStore, repo: str) -> None:
    with (
        RegistryClient(creds_for_port, insecure=True, retries=0) as c,
        pytest.raises(InputError, match="limit"),
    ):
        c.get_manifest(ref(faulty, f"{repo}:v1"))


def test_docker_content_digest_mismatch(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    with RegistryClient(creds_for_port, insecure=True, retries=0) as c, pytest.raises(DigestMismatchError):
        c.get_manifest(ref(faulty, "liar:v1"))


def test_blob_redirect_followed_without_leaking_authorization(
    faulty: Faulty, creds_for_port: CredentialStore
) -> None:
    desc = Descriptor("application/octet-stream", digest(BLOB), len(BLOB))
    with (
        RegistryClient(creds_for_port, insecure=True, retries=0) as c,
        c.get_blob(ref(faulty, "redirect:v1"), desc) as reader,
    ):
        assert reader.read() == BLOB
        assert reader.read() == b""
    # The redirect went to another origin (localhost vs 127.0.0.1): no credentials sent there.
    assert faulty.storage_auth == [None]


def test_blob_size_mismatch(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    desc = Descriptor("application/octet-stream", digest(BLOB), len(BLOB) - 1)
    with (
        RegistryClient(creds_for_port, insecure=True, retries=0) as c,
        pytest.raises(DigestMismatchError, match="declares"),
        c.get_blob(ref(faulty, "redirect:v1"), desc),
    ):
        pass


def test_tag_pagination_loop_detected(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    with (
        RegistryClient(creds_for_port, insecure=True, retries=0) as c,
        pytest.raises(ExternalError, match="pagination loop"),
    ):
        c.list_tags(ref(faulty, "loop:v1"))


def test_basic_auth_wrong_password_and_no_credentials(faulty: Faulty) -> None:
    store = CredentialStore()
    store.set(f"127.0.0.1:{faulty.port}", Credentials(USER, "wrong"))
    with RegistryClient(store, insecure=True, retries=0) as c, pytest.raises(AuthenticationError) as info:
        c.get_manifest(ref(faulty, "flaky:v1"))
    assert "wrong" not in str(info.value)
    with (
        RegistryClient(CredentialStore(), insecure=True, retries=0) as c,
        pytest.raises(AuthenticationError, match="imgsec registry login"),
    ):
        c.get_manifest(ref(faulty, "flaky:v1"))


def test_registry_error_codes_in_messages(faulty: Faulty, creds_for_port: CredentialStore) -> None:
    from imgsec.errors import NotFoundError

    with (
        RegistryClient(creds_for_port, insecure=True, retries=0) as c,
        pytest.raises(NotFoundError, match="NAME_UNKNOWN"),
    ):
        c.get_manifest(ref(faulty, "nothing:v1"))
