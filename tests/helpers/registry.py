"""Real ``docker-registry`` processes for tests: plain HTTP, htpasswd + TLS, and bearer tokens.

Each server runs ``docker-registry serve`` (distribution 2.8) on a free loopback port with its storage
in a temp dir, so tests can also reach into ``storage`` to tamper with blobs.  Token mode adds a small
token service (stdlib ``http.server`` in a thread) that issues RS256 JWTs with an ``x5c`` header whose
certificate is the registry's ``rootcertbundle``, as the distribution token spec describes.

Also: :func:`build_layout` writes a tiny OCI image layout byte by byte from the image spec, and
:func:`skopeo_push` pushes a layout with ``skopeo copy --preserve-digests``.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TEST_USER = "tester"
TEST_PASSWORD = "s3cret-Pa55"
TOKEN_SERVICE = "imgsec-test-registry"
TOKEN_ISSUER = "imgsec-test-token-issuer"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def have_registry_tools() -> bool:
    return shutil.which("docker-registry") is not None and shutil.which("htpasswd") is not None


# --- certificates --------------------------------------------------------------------------------


def make_self_signed(directory: Path, name: str, *, server: bool) -> tuple[Path, Path, rsa.RSAPrivateKey]:
    """A self-signed RSA certificate (SAN IP:127.0.0.1, DNS:localhost for servers); (cert, key, key obj)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1" if server else name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if server:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path, key


# --- token service -------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenService:
    """Issues distribution JWTs. The configured user gets what it asks for; anonymous gets ``public/*`` pull."""

    key: rsa.RSAPrivateKey
    cert_der: bytes
    username: str = TEST_USER
    password: str = TEST_PASSWORD
    #: "token", "access_token" or "both": which field(s) the JSON answer carries.
    token_field: str = "both"
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def issue(self, account: str | None, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    continue
                kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
                if account is None:
                    actions = [a for a in actions if a == "pull" and name.startswith("public/")]
                access.append({"type": kind, "name": name, "actions": actions})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode("ascii")]}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": account or "",
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def start(self) -> str:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                account: str | None = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if (user, password) != (service.username, service.password):
                        self.send_response(401)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(b'{"details":"incorrect username or password"}')
                        return
                    account = user
                scopes = query.get("scope", [])
                service.requests.append(
                    {"account": account, "scopes": scopes, "service": query.get("service", [None])[0]}
                )
                token = service.issue(account, scopes)
                body: dict[str, Any] = {"expires_in": 300}
                if service.token_field in ("token", "both"):
                    body["token"] = token
                if service.token_field in ("access_token", "both"):
                    body["access_token"] = token
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                # OAuth2 refresh-token grant: the identity token "refresh-<user>" stands for that user.
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                refresh = form.get("refresh_token", [""])[0]
                if form.get("grant_type") != ["refresh_token"] or refresh != f"refresh-{service.username}":
                    self.send_response(401)
                    self.end_headers()
                    return
                scopes = form.get("scope", [""])[0].split()
                service.requests.append(
                    {"account": service.username, "scopes": scopes, "grant": "refresh_token"}
                )
                data = json.dumps({"access_token": service.issue(service.username, scopes)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# --- registry processes --------------------------------------------------------------------------


@dataclass
class RegistryServer:
    """A running ``docker-registry``; ``host`` is ``127.0.0.1:PORT``."""

    mode: str
    host: str
    root: Path
    storage: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None
    ca_cert: Path | None = None
    #: A directory holding ``ca.crt``, for skopeo's ``--dest-cert-dir``.
    cert_dir: Path | None = None
    token_service: TokenService | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ca_cert is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        return self.storage / "docker/registry/v2/blobs" / algo / hexpart[:2] / hexpart / "data"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.token_service is not None:
            self.token_service.stop()


def _config_yaml(storage: Path, port: int, extra: dict[str, Any]) -> str:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return json.dumps(config, indent=2)  # JSON is YAML


def _wait_ready(server: RegistryServer, log_path: Path, timeout: float = 15.0) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_cert)) if server.ca_cert else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/v2/", timeout=1, context=context):
                return
        except urllib.error.HTTPError:
            return  # 401 is an answer: it is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"docker-registry did not answer /v2/ within {timeout}s: {log_path.read_text()[-2000:]}"
    )


def start_registry(base: Path, mode: str = "plain", *, token_field: str = "both") -> RegistryServer:
    """Start ``docker-registry`` in ``mode`` ``plain``, ``auth_tls`` (htpasswd + TLS) or ``token``."""
    root = base / f"registry-{mode}-{uuid.uuid4().hex[:8]}"
    storage = root / "storage"
    storage.mkdir(parents=True)
    port = free_port()
    extra: dict[str, Any] = {}
    username = password = None
    ca_cert = cert_dir = None
    token_service = None
    if mode == "auth_tls":
        username, password = TEST_USER, TEST_PASSWORD
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", username, password], check=True, capture_output=True
        ).stdout
        (root / "htpasswd").write_bytes(htpasswd)
        cert, key, _ = make_self_signed(root, "server", server=True)
        extra["auth"] = {"htpasswd": {"realm": "imgsec-test", "path": str(root / "htpasswd")}}
        extra["http"] = {"tls": {"certificate": str(cert), "key": str(key)}}
        ca_cert = cert
        cert_dir = root / "certs.d"
        cert_dir.mkdir()
        shutil.copy(cert, cert_dir / "ca.crt")
    elif mode == "token":
        username, password = TEST_USER, TEST_PASSWORD
        cert, _key_path, signer = make_self_signed(root, "token-signer", server=False)
        cert_der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
        token_service = TokenService(signer, cert_der, token_field=token_field)
        realm = token_service.start()
        extra["auth"] = {
            "token": {
                "realm": realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(cert),
            }
        }
    elif mode != "plain":
        raise ValueError(f"unknown registry mode {mode!r}")
    config_path = root / "config.yml"
    config_path.write_text(_config_yaml(storage, port, extra))
    log_path = root / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )
    server = RegistryServer(
        mode=mode,
        host=f"127.0.0.1:{port}",
        root=root,
        storage=storage,
        process=process,
        username=username,
        password=password,
        ca_cert=ca_cert,
        cert_dir=cert_dir,
        token_service=token_service,
    )
    _wait_ready(server, log_path)
    return server


# --- tiny OCI images -----------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class BuiltImage:
    """What :func:`build_layout` wrote, with digests computed here from the bytes (the spec's rule)."""

    layout: Path
    tag: str
    top_digest: str
    top_media_type: str
    #: platform string ("linux/amd64") -> (manifest digest, config digest, [layer digests], [diff_ids])
    platforms: dict[str, tuple[str, str, list[str], list[str]]]
    blobs: dict[str, bytes]


def build_layout(
    layout: Path,
    tag: str = "v1",
    platforms: tuple[str, ...] = ("linux/amd64",),
    layers: tuple[dict[str, bytes], ...] = ({"etc/hello.txt": b"hello\n"},),
    index: bool | None = None,
) -> BuiltImage:
    """Write an OCI image layout with one image per platform (an index when several or ``index=True``)."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        digest = sha256(data)
        blobs[digest] = data
        path = layout / "blobs" / "sha256" / digest.split(":")[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return digest

    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    results: dict[str, tuple[str, str, list[str], list[str]]] = {}
    descriptors: list[dict[str, Any]] = []
    for plat in platforms:
        os_, arch, *variant = plat.split("/")
        layer_descs: list[dict[str, Any]] = []
        layer_digests: list[str] = []
        diff_ids: list[str] = []
        history: list[dict[str, Any]] = []
        for i, files in enumerate(layers):
            raw = tar_of({**files, "etc/platform": plat.encode()} if i == len(layers) - 1 else files)
            gz = gzip.compress(raw, mtime=0)
            digest = put(gz)
            layer_digests.append(digest)
            diff_ids.append(sha256(raw))
            layer_descs.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": len(gz),
                }
            )
            history.append({"created_by": f"ADD layer{i} /", "created": "2024-01-01T00:00:00Z"})
            history.append({"created_by": "ENV X=1", "empty_layer": True})
        config: dict[str, Any] = {
            "architecture": arch,
            "os": os_,
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        if variant:
            config["variant"] = variant[0]
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = put(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": layer_descs,
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        manifest_digest = put(manifest_bytes)
        results[plat] = (manifest_digest, config_digest, layer_digests, diff_ids)
        platform_obj: dict[str, str] = {"os": os_, "architecture": arch}
        if variant:
            platform_obj["variant"] = variant[0]
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": platform_obj,
            }
        )
    ref_annotation = {"org.opencontainers.image.ref.name": tag}
    if index if index is not None else len(platforms) > 1:
        image_index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descriptors,
        }
        index_bytes = json.dumps(image_index, sort_keys=True).encode()
        top_digest, top_type = put(index_bytes), "application/vnd.oci.image.index.v1+json"
        top: dict[str, Any] = {"mediaType": top_type, "digest": top_digest, "size": len(index_bytes)}
    else:
        top = {k: v for k, v in descriptors[0].items() if k != "platform"}
        top_digest, top_type = str(top["digest"]), str(top["mediaType"])
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{**top, "annotations": ref_annotation}],
            }
        )
    )
    return BuiltImage(layout, tag, top_digest, top_type, results, blobs)


def skopeo_push(image: BuiltImage, server: RegistryServer, repository: str, tag: str | None = None) -> str:
    """``skopeo copy --all --preserve-digests oci:LAYOUT:TAG docker://HOST/REPO:TAG``; returns the ref."""
    dest = f"{server.host}/{repository}:{tag or image.tag}"
    cmd = ["skopeo", "--insecure-policy", "copy", "--all", "--preserve-digests", "--quiet"]
    if server.cert_dir is not None:
        cmd += ["--dest-cert-dir", str(server.cert_dir)]
    else:
        cmd += ["--dest-tls-verify=false"]
    if server.username is not None:
        cmd += ["--dest-creds", f"{server.username}:{server.password}"]
    cmd += [f"oci:{image.layout}:{image.tag}", f"docker://{dest}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {proc.stderr.strip()}")
    return dest
