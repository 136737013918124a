"""A small, strict client for the OCI distribution API (and Docker Registry HTTP API v2).

Auth follows the distribution token spec: ``GET /v2/`` answers 401 with ``WWW-Authenticate``;
``Basic`` means send the user and password on every request; ``Bearer realm,service,scope`` means
fetch a token from ``realm`` (with basic credentials, an identity token, or anonymously), cache it
per scope and retry once.  Every byte read is checked against the digest that names it.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import logging
import re
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import certifi
import httpx

from imgsec import __version__
from imgsec.errors import (
    AuthenticationError,
    DigestMismatchError,
    ExternalError,
    ImgsecError,
    InputError,
    NotFoundError,
    UsageError,
)
from imgsec.image.manifest import document_media_type, load_json_document, parse_descriptor
from imgsec.image.model import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_DOCUMENT_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    VerifyingReader,
    sha256_digest,
    verify_digest,
)
from imgsec.reference import Reference, validate_digest
from imgsec.registry.auth import ANONYMOUS, Credentials, CredentialStore

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_TOKEN_RESPONSE = 1024 * 1024
_MAX_ERROR_BODY = 64 * 1024
_MAX_TAG_PAGES = 10_000
_LOGIN_HINT = "check the user name and password, or run `imgsec registry login HOST`"
_CHALLENGE_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


# --- small value types ---------------------------------------------------------------------------


class FetchedManifest(NamedTuple):
    """A manifest or index as the registry served it, already verified against its digest."""

    data: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` challenge."""

    scheme: str  # lowercase: "basic" or "bearer"
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


@dataclass(frozen=True)
class PingResult:
    """What ``GET /v2/`` told us about a registry."""

    host: str
    scheme: str  # "https" or "http"
    status: int
    tls_verified: bool
    challenge: Challenge | None


def parse_challenge(header: str) -> Challenge | None:
    """Parse the first challenge of a ``WWW-Authenticate`` header (RFC 7235), e.g. ``Bearer realm="..."``."""
    text = header.strip()
    if not text:
        return None
    scheme, _, rest = text.partition(" ")
    params: dict[str, str] = {}
    for m in _CHALLENGE_PARAM_RE.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return Challenge(scheme.lower(), params)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _media_type_header(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type")
    return value.split(";", 1)[0].strip() or None if value else None


def _body_excerpt(response: httpx.Response) -> bytes:
    """At most the first 64 KiB of a response body (streamed responses are read no further)."""
    try:
        return response.content[:_MAX_ERROR_BODY]
    except httpx.ResponseNotRead:
        pass
    data = b""
    try:
        for chunk in response.iter_raw():
            data += chunk
            if len(data) >= _MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    return data[:_MAX_ERROR_BODY]


def _registry_error_text(content: bytes) -> str:
    """The registry's ``errors[].code: message`` list from a response body, or a short excerpt."""
    body = content[:_MAX_ERROR_BODY]
    try:
        doc = load_json_document(body, "error body")
        errors = doc.get("errors")
        if isinstance(errors, list):
            parts = [
                f"{e.get('code')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors[:3]
            ]
            return "; ".join(parts)
    except InputError:
        pass
    text = body.decode("utf-8", "replace").strip().splitlines()
    return text[0][:200] if text else ""


class _ResponseStream(io.RawIOBase):
    """A raw binary stream over an httpx streaming response (network errors become ExternalError)."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self._chunks = response.iter_raw()
        self._buffer = b""
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.HTTPError as exc:
                raise ExternalError(f"{self._what}: download interrupted ({exc}); try again") from exc
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._buffer))
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


@dataclass
class _HostState:
    scheme: str
    tls_verified: bool
    challenge: Challenge | None = None
    ping_status: int = 0
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)


# --- the client ----------------------------------------------------------------------------------


class RegistryClient:
    """Talks to any number of registries; one instance per command run (it caches tokens).

    TLS is verified by default (system CAs + certifi + ``ca_cert``).  ``insecure=True`` skips TLS
    verification and falls back to plain HTTP when a registry does not speak TLS; never the default.
    """

    def __init__(
        self,
        credentials: CredentialStore | None = None,
        *,
        insecure: bool = False,
        ca_cert: Path | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
    ) -> None:
        self.credentials = credentials if credentials is not None else CredentialStore()
        self.insecure = insecure
        self.ca_cert = ca_cert
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        verify: ssl.SSLContext | bool
        if insecure:
            verify = False
        else:
            verify = ssl.create_default_context(cafile=certifi.where())
            verify.load_default_certs()
            if ca_cert is not None:
                try:
                    verify.load_verify_locations(cafile=str(ca_cert))
                except (OSError, ssl.SSLError) as exc:
                    raise InputError(
                        f"--ca-cert {ca_cert}: not a readable PEM certificate bundle ({exc})"
                    ) from exc
        self._http = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": f"imgsec/{__version__}", "Accept-Encoding": "identity"},
            follow_redirects=False,
        )
        self._hosts: dict[str, _HostState] = {}

    @classmethod
    def for_reference(
        cls,
        ref: Reference,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_cert: Path | None = None,
        insecure: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> RegistryClient:
        """A client using this machine's auth files, with ``--username``/password for ``ref``'s registry."""
        store = CredentialStore.from_environment(env)
        if username is not None or password is not None:
            if not username or password is None:
                raise UsageError("--username needs --password-stdin (and a password needs --username)")
            store.set(ref.registry, Credentials(username, password, source="--username"))
        return cls(store, insecure=insecure, ca_cert=ca_cert)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport: retries, TLS, error mapping -------------------------------------------------

    def _transport_error(self, host: str, exc: httpx.TransportError) -> ImgsecError:
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return ExternalError(
                f"TLS certificate of registry {host} is not trusted ({text}); pass --ca-cert FILE with the "
                "registry's CA certificate (or --insecure to skip verification)"
            )
        if isinstance(exc, httpx.ConnectError) and ("SSL" in text or "TLS" in text or "record" in text):
            return ExternalError(
                f"TLS handshake with registry {host} failed ({text}); if it serves plain HTTP pass --insecure, "
                "if it uses a private CA pass --ca-cert FILE"
            )
        if isinstance(exc, httpx.TimeoutException):
            return ExternalError(f"registry {host} timed out ({type(exc).__name__}); try again later")
        return ExternalError(f"cannot reach registry {host}: {text}; check the host name and network")

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay: float = self.backoff * (2**attempt)
        value = response.headers.get("retry-after") if response is not None else None
        if value:
            try:
                delay = float(value)
            except ValueError:
                try:
                    delay = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
                except (TypeError, ValueError):
                    pass
        return float(min(max(delay, 0.0), self.max_retry_after))

    def _send_raw(
        self,
        method: str,
        url: str,
        host: str,
        *,
        headers: Mapping[str, str],
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        replayable = content is None or isinstance(content, bytes)
        attempt = 0
        while True:
            try:
                request = self._http.build_request(method, url, headers=dict(headers), content=content)
                response = self._http.send(request, stream=stream, follow_redirects=follow_redirects)
            except httpx.TransportError as exc:
                error = self._transport_error(host, exc)
                tls_problem = "TLS" in str(error)
                if tls_problem or not replayable or attempt >= self.retries:
                    raise error from exc
                delay = self._retry_delay(attempt, None)
                log.info("%s %s failed (%s); retrying in %.1fs", method, url, type(exc).__name__, delay)
                time.sleep(delay)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and replayable and attempt < self.retries:
                delay = self._retry_delay(attempt, response)
                response.close()
                log.info("%s %s answered %d; retrying in %.1fs", method, url, response.status_code, delay)
                time.sleep(delay)
                attempt += 1
                continue
            return response

    # --- ping and auth ----------------------------------------------------------------------------

    def _state(self, host: str) -> _HostState:
        state = self._hosts.get(host)
        if state is None:
            state = self._ping(host)
            self._hosts[host] = state
        return state

    def _ping(self, host: str) -> _HostState:
        headers = {"Accept": "application/json"}
        try:
            response = self._send_raw("GET", f"https://{host}/v2/", host, headers=headers, stream=True)
            scheme = "https"
        except ExternalError:
            if not self.insecure:
                raise
            # --insecure: the registry may not speak TLS at all.
            response = self._send_raw("GET", f"http://{host}/v2/", host, headers=headers, stream=True)
            scheme = "http"
        _body_excerpt(response)
        challenge = None
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        elif response.status_code >= 500:
            raise ExternalError(
                f"registry {host} answered {response.status_code} to GET /v2/; try again later"
            )
        return _HostState(scheme, scheme == "https" and not self.insecure, challenge, response.status_code)

    def ping(self, host: str) -> PingResult:
        """``GET /v2/`` on ``host`` (an API host like ``registry-1.docker.io`` or ``127.0.0.1:5000``)."""
        state = self._state(host)
        return PingResult(host, state.scheme, state.ping_status, state.tls_verified, state.challenge)

    def _creds(self, credentials_host: str, repository: str | None) -> Credentials:
        return self.credentials.get(credentials_host, repository)

    def _basic_header(self, creds: Credentials, host: str) -> str:
        if creds.username is None or creds.password is None:
            raise AuthenticationError(
                f"registry {host} requires a user name and password and none are configured; "
                "run `imgsec registry login HOST` or pass --username and --password-stdin"
            )
        raw = f"{creds.username}:{creds.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _fetch_token(
        self, host: str, challenge: Challenge, scopes: Sequence[str], creds: Credentials
    ) -> tuple[str, float]:
        """(token, seconds it may be cached) from the challenge's realm."""
        realm = challenge.realm
        if not realm or not realm.startswith(("https://", "http://")):
            raise ExternalError(f"registry {host} sent a bearer challenge without a usable realm ({realm!r})")
        if realm.startswith("http://") and not creds.anonymous and not self.insecure:
            raise AuthenticationError(
                f"registry {host} wants credentials sent to a plain-HTTP token service {realm}; "
                "refusing (pass --insecure only if you trust this network)"
            )
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service := challenge.params.get("service"):
            params.append(("service", service))
        params.extend(("scope", s) for s in scopes)
        url = str(httpx.URL(realm).copy_merge_params(params))
        realm_host = httpx.URL(realm).netloc.decode("ascii", "replace")
        headers: dict[str, str] = {"Accept": "application/json"}
        if creds.identity_token:
            # OAuth2 refresh-token grant (docker's identity tokens); scopes are space-separated here.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": f"imgsec/{__version__}",
                "service": challenge.params.get("service", ""),
                "scope": " ".join(scopes),
            }
            body = str(httpx.QueryParams(form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = self._send_raw("POST", realm, realm_host, headers=headers, content=body, stream=True)
        else:
            if not creds.anonymous:
                headers["Authorization"] = self._basic_header(creds, host)
                url = str(httpx.URL(url).copy_add_param("account", creds.username or ""))
            response = self._send_raw("GET", url, realm_host, headers=headers, stream=True)
        with closing(response):
            declared = response.headers.get("content-length") or "0"
            if not declared.isdigit() or int(declared) > _MAX_TOKEN_RESPONSE:
                raise ExternalError(f"token service {realm_host} sent an oversize response")
            body_bytes = b""
            for chunk in response.iter_raw():
                body_bytes += chunk
                if len(body_bytes) > _MAX_TOKEN_RESPONSE:
                    raise ExternalError(f"token service {realm_host} sent an oversize response")
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"token service {realm_host} for registry {host} refused the credentials "
                f"({creds.username or 'anonymous'}, from {creds.source or 'nowhere'}); {_LOGIN_HINT}"
            )
        if response.status_code != 200:
            raise ExternalError(
                f"token service {realm_host} for registry {host} answered {response.status_code}: "
                f"{_registry_error_text(body_bytes)}"
            )
        try:
            doc = load_json_document(body_bytes, "token response")
        except InputError as exc:
            raise ExternalError(f"token service {realm_host}: {exc}") from exc
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise ExternalError(f"token service {realm_host} answered without a 'token' or 'access_token'")
        expires_in = doc.get("expires_in")
        # The spec's minimum lifetime is 60 s; refresh 10 s early.
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 60 else 60
        return token, float(lifetime - 10)

    def _token(self, host: str, state: _HostState, scopes: Sequence[str], creds: Credentials) -> str:
        key = " ".join(sorted(set(scopes)))
        cached = state.tokens.get(key)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        assert state.challenge is not None
        token, lifetime = self._fetch_token(host, state.challenge, sorted(set(scopes)), creds)
        state.tokens[key] = (token, now + lifetime)
        return token

    def _authorization(
        self, host: str, state: _HostState, scopes: Sequence[str], creds: Credentials
    ) -> str | None:
        challenge = state.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self._basic_header(creds, host)
        if challenge.scheme == "bearer":
            return "Bearer " + self._token(host, state, scopes, creds)
        raise ExternalError(
            f"registry {host} asks for unsupported authentication scheme {challenge.scheme!r}"
        )

    def _request(
        self,
        method: str,
        ref: Reference,
        target: str,
        scopes: Sequence[str],
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send an authenticated request; on 401 learn the challenge, authenticate and retry once."""
        host = ref.api_host
        state = self._state(host)
        url = target if "://" in target else f"{state.scheme}://{host}{target}"
        same_origin = httpx.URL(url).netloc.decode("ascii", "replace") == host
        creds = self._creds(ref.registry, ref.repository)
        scopes = list(scopes)
        retried = False
        while True:
            all_headers = dict(headers or {})
            if same_origin and (authz := self._authorization(host, state, scopes, creds)):
                all_headers["Authorization"] = authz
            response = self._send_raw(
                method,
                url,
                host,
                headers=all_headers,
                content=content,
                stream=stream,
                follow_redirects=follow_redirects,
            )
            if (
                response.status_code == 401
                and not retried
                and (content is None or isinstance(content, bytes))
            ):
                _body_excerpt(response)
                challenge = parse_challenge(response.headers.get("www-authenticate", ""))
                if challenge is None:
                    raise AuthenticationError(
                        f"registry {host} refused the request (401) without a challenge"
                    )
                new_scope = challenge.params.get("scope")
                if new_scope:
                    for scope in new_scope.split(" "):
                        if scope and scope not in scopes:
                            scopes.append(scope)
                state.challenge = challenge
                state.tokens.pop(" ".join(sorted(set(scopes))), None)
                retried = True
                continue
            if response.status_code in (401, 403):
                who = "anonymous access" if creds.anonymous else f"user {creds.username or '<token>'}"
                raise AuthenticationError(
                    f"registry {host} denied {method} {ref.repository} ({response.status_code} for {who}"
                    f"{', from ' + creds.source if creds.source and not creds.anonymous else ''}: "
                    f"{_registry_error_text(_body_excerpt(response))}); {_LOGIN_HINT}"
                )
            return response

    def _fail(self, response: httpx.Response, what: str, host: str) -> ImgsecError:
        """The error for an unexpected status (the body must have been read)."""
        detail = _registry_error_text(_body_excerpt(response))
        status = response.status_code
        if status == 404:
            return NotFoundError(f"{what} not found on {host} ({detail or '404'}); check the name and tag")
        if status == 429:
            return ExternalError(f"{what}: registry {host} is rate limiting requests (429); try again later")
        if status >= 500:
            return ExternalError(f"{what}: registry {host} failed with {status} ({detail}); try again later")
        return ExternalError(f"{what}: registry {host} answered {status} ({detail})")

    def _read_document(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_DOCUMENT_SIZE:
            raise InputError(
                f"{what}: {declared} bytes, larger than the {MAX_DOCUMENT_SIZE}-byte document limit"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_raw():
                total += len(chunk)
                if total > MAX_DOCUMENT_SIZE:
                    raise InputError(f"{what}: larger than the {MAX_DOCUMENT_SIZE}-byte document limit")
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise ExternalError(f"{what}: download interrupted ({exc}); try again") from exc
        return b"".join(chunks)

    # --- manifests --------------------------------------------------------------------------------

    def get_manifest(self, ref: Reference, accept: str = MANIFEST_ACCEPT) -> FetchedManifest:
        """Fetch the manifest or index ``ref`` names, verified against its digest."""
        what = f"manifest {ref}"
        path = f"/v2/{ref.repository}/manifests/{ref.identifier}"
        response = self._request(
            "GET", ref, path, [pull_scope(ref.repository)], headers={"Accept": accept}, stream=True
        )
        with closing(response):
            if response.status_code != 200:
                raise self._fail(response, what, ref.api_host)
            data = self._read_document(response, what)
        if ref.digest is not None:
            verify_digest(data, ref.digest, what)
            digest = ref.digest
        else:
            digest = sha256_digest(data)
            header = response.headers.get("docker-content-digest")
            if header:
                try:
                    validate_digest(header)
                except ImgsecError as exc:
                    raise InputError(
                        f"{what}: registry sent an invalid Docker-Content-Digest {header!r}"
                    ) from exc
                verify_digest(data, header, what)
                if header.startswith("sha256:"):
                    digest = header
        doc = load_json_document(data, what)
        header_type = _media_type_header(response)
        if header_type in ("application/json", "application/octet-stream", "text/plain"):
            header_type = None
        try:
            media_type = document_media_type(doc, header_type)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from exc
        return FetchedManifest(data, media_type, digest)

    def head_manifest(self, ref: Reference, accept: str = MANIFEST_ACCEPT) -> Descriptor:
        """Descriptor (media type, digest, size) of the manifest ``ref`` names, without downloading it."""
        what = f"manifest {ref}"
        path = f"/v2/{ref.repository}/manifests/{ref.identifier}"
        response = self._request("HEAD", ref, path, [pull_scope(ref.repository)], headers={"Accept": accept})
        with closing(response):
            response.read()
        if response.status_code != 200:
            if response.status_code == 404:
                raise NotFoundError(f"{what} not found on {ref.api_host}; check the name and tag")
            raise self._fail(response, what, ref.api_host)
        digest = response.headers.get("docker-content-digest")
        size = response.headers.get("content-length")
        media_type = _media_type_header(response)
        if not digest or not size or not size.isdigit() or not media_type or media_type == "application/json":
            # The header is optional: fall back to downloading the manifest.
            fetched = self.get_manifest(ref, accept)
            return Descriptor(fetched.media_type, fetched.digest, len(fetched.data))
        try:
            validate_digest(digest)
        except ImgsecError as exc:
            raise InputError(f"{what}: registry sent an invalid Docker-Content-Digest {digest!r}") from exc
        if ref.digest is not None and digest != ref.digest:
            raise DigestMismatchError(f"{what}: registry says its digest is {digest}, not {ref.digest}")
        return Descriptor(media_type, digest, int(size))

    def push_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """Upload a manifest under ``ref``'s tag (or digest); returns its digest."""
        what = f"manifest {ref}"
        if len(data) > MAX_DOCUMENT_SIZE:
            raise InputError(f"{what}: larger than the {MAX_DOCUMENT_SIZE}-byte document limit")
        digest = sha256_digest(data)
        if ref.digest is not None:
            verify_digest(data, ref.digest, what)
        target = ref.tag if ref.tag is not None and ref.digest is None else (ref.digest or digest)
        path = f"/v2/{ref.repository}/manifests/{target}"
        response = self._request(
            "PUT", ref, path, [push_scope(ref.repository)], headers={"Content-Type": media_type}, content=data
        )
        with closing(response):
            response.read()
        if response.status_code not in (200, 201, 202):
            raise self._fail(response, f"pushing {what}", ref.api_host)
        returned = response.headers.get("docker-content-digest")
        if returned and returned.startswith("sha256:") and returned != digest:
            raise DigestMismatchError(f"pushing {what}: registry stored digest {returned}, expected {digest}")
        return digest

    def delete_manifest(self, ref: Reference) -> None:
        """Delete the manifest ``ref`` names (by digest; or by tag where the registry allows it)."""
        what = f"manifest {ref}"
        path = f"/v2/{ref.repository}/manifests/{ref.identifier}"
        response = self._request("DELETE", ref, path, [push_scope(ref.repository)])
        with closing(response):
            response.read()
        if response.status_code in (200, 202, 204):
            return
        if response.status_code == 405:
            raise ExternalError(f"deleting {what}: registry {ref.api_host} does not allow deletes (405)")
        if response.status_code in (400, 404) and ref.digest is None:
            raise UsageError(f"deleting {what}: this registry deletes by digest only; use NAME@sha256:...")
        raise self._fail(response, f"deleting {what}", ref.api_host)

    # --- blobs ------------------------------------------------------------------------------------

    @contextmanager
    def get_blob(self, repo: Reference, descriptor: Descriptor) -> Iterator[VerifyingReader]:
        """Stream a blob; the reader raises DigestMismatchError at EOF if digest or size differ."""
        what = f"blob {descriptor.digest} of {repo.name}"
        validate_digest(descriptor.digest)
        path = f"/v2/{repo.repository}/blobs/{descriptor.digest}"
        response = self._request(
            "GET", repo, path, [pull_scope(repo.repository)], stream=True, follow_redirects=True
        )
        try:
            if response.status_code != 200:
                raise self._fail(response, what, repo.api_host)
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) != descriptor.size:
                raise DigestMismatchError(
                    f"{what}: registry sends {declared} bytes, but its descriptor declares {descriptor.size}"
                )
            raw: BinaryIO = io.BufferedReader(_ResponseStream(response, what), buffer_size=1 << 20)
            yield VerifyingReader(raw, descriptor.digest, what, descriptor.size)
        finally:
            response.close()

    def get_blob_bytes(
        self, repo: Reference, descriptor: Descriptor, max_size: int = MAX_DOCUMENT_SIZE
    ) -> bytes:
        """Download a small blob (a config) fully, verified; larger than ``max_size`` is rejected."""
        if descriptor.size > max_size:
            raise InputError(
                f"blob {descriptor.digest} of {repo.name}: {descriptor.size} bytes, larger than the "
                f"{max_size}-byte limit for documents"
            )
        with self.get_blob(repo, descriptor) as reader:
            data = reader.read(max_size + 1)
            while chunk := reader.read(max_size + 1 - len(data)):
                data += chunk
            reader.read()  # EOF: verify digest and size
        return data

    def blob_exists(self, repo: Reference, digest: str) -> bool:
        validate_digest(digest)
        path = f"/v2/{repo.repository}/blobs/{digest}"
        response = self._request("HEAD", repo, path, [pull_scope(repo.repository)], follow_redirects=True)
        with closing(response):
            response.read()
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._fail(response, f"blob {digest} of {repo.name}", repo.api_host)

    def push_blob(
        self,
        repo: Reference,
        data: bytes | BinaryIO,
        digest: str,
        size: int | None = None,
        mount_from: Reference | None = None,
    ) -> None:
        """Upload a blob (monolithic POST + PUT), skipping it if present; try a cross-repo mount first."""
        what = f"blob {digest} to {repo.name}"
        validate_digest(digest)
        if isinstance(data, bytes):
            verify_digest(data, digest, what)
            size = len(data)
        if self.blob_exists(repo, digest):
            return
        scopes = [push_scope(repo.repository)]
        post_path = f"/v2/{repo.repository}/blobs/uploads/"
        if mount_from is not None and mount_from.registry == repo.registry:
            scopes.append(pull_scope(mount_from.repository))
            mount_path = f"{post_path}?mount={digest}&from={mount_from.repository}"
            response = self._request("POST", repo, mount_path, scopes, content=b"")
            with closing(response):
                response.read()
            if response.status_code == 201:
                return
        else:
            response = self._request("POST", repo, post_path, scopes, content=b"")
            with closing(response):
                response.read()
        if response.status_code != 202 or not response.headers.get("location"):
            raise self._fail(response, f"starting upload of {what}", repo.api_host)
        location = str(response.url.join(response.headers["location"]))
        upload_url = str(httpx.URL(location).copy_add_param("digest", digest))
        headers = {"Content-Type": "application/octet-stream"}
        body: bytes | Iterator[bytes]
        if isinstance(data, bytes):
            body = data
        else:
            if size is not None:
                headers["Content-Length"] = str(size)
            stream = data
            body = iter(lambda: stream.read(1 << 20), b"")
        response = self._request("PUT", repo, upload_url, scopes, headers=headers, content=body)
        with closing(response):
            response.read()
        if response.status_code not in (201, 204):
            raise self._fail(response, f"uploading {what}", repo.api_host)

    # --- listing ----------------------------------------------------------------------------------

    def list_tags(self, repo: Reference, page_size: int = 1000) -> list[str]:
        """All tags of ``repo``, following ``Link: <...>; rel="next"`` pagination."""
        what = f"tags of {repo.name}"
        target = f"/v2/{repo.repository}/tags/list?n={page_size}"
        tags: list[str] = []
        seen: set[str] = set()
        for _ in range(_MAX_TAG_PAGES):
            response = self._request("GET", repo, target, [pull_scope(repo.repository)], stream=True)
            with closing(response):
                if response.status_code != 200:
                    raise self._fail(response, what, repo.api_host)
                doc = load_json_document(self._read_document(response, what), what)
            page = doc.get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise InputError(f"{what}: 'tags' must be a list of strings")
            tags.extend(page)
            next_link = response.links.get("next", {}).get("url")
            if not next_link or not page:
                return tags
            target = str(response.url.join(next_link))
            if target in seen:
                raise ExternalError(f"{what}: registry {repo.api_host} sent a pagination loop")
            seen.add(target)
        raise ExternalError(f"{what}: more than {_MAX_TAG_PAGES} pages")

    def referrers(
        self, repo: Reference, digest: str, artifact_type: str | None = None
    ) -> list[Descriptor] | None:
        """Manifests whose ``subject`` is ``digest`` (OCI 1.1), or None when the registry lacks the API.

        On None, fall back to the ``sha256-<hex>.sig``/``.att`` tag scheme.
        """
        validate_digest(digest)
        what = f"referrers of {repo.name}@{digest}"
        target = f"/v2/{repo.repository}/referrers/{digest}"
        if artifact_type:
            target += "?" + str(httpx.QueryParams({"artifactType": artifact_type}))
        out: list[Descriptor] = []
        filtered = False
        for _ in range(_MAX_TAG_PAGES):
            response = self._request(
                "GET", repo, target, [pull_scope(repo.repository)], headers={"Accept": OCI_INDEX}, stream=True
            )
            with closing(response):
                if response.status_code == 404:
                    if out:
                        raise self._fail(response, what, repo.api_host)
                    return None
                if response.status_code != 200:
                    raise self._fail(response, what, repo.api_host)
                doc = load_json_document(self._read_document(response, what), what)
            filtered = filtered or "artifactType" in response.headers.get("oci-filters-applied", "")
            manifests = doc.get("manifests")
            if not isinstance(manifests, list):
                raise InputError(f"{what}: the referrers response has no 'manifests' list")
            out.extend(parse_descriptor(m, f"{what} manifests[{i}]") for i, m in enumerate(manifests))
            next_link = response.links.get("next", {}).get("url")
            if not next_link:
                break
            target = str(response.url.join(next_link))
        if artifact_type and not filtered:
            out = [d for d in out if d.artifact_type == artifact_type]
        return out

    # --- login ------------------------------------------------------------------------------------

    def verify_login(self, registry: str, creds: Credentials) -> PingResult:
        """Check ``creds`` against ``registry`` like ``docker login``; raises AuthenticationError if refused."""
        ref = Reference(registry=registry, repository="imgsec-login-check")
        host = ref.api_host
        state = self._state(host)
        result = PingResult(host, state.scheme, state.ping_status, state.tls_verified, state.challenge)
        challenge = state.challenge
        if challenge is None:
            return result
        if challenge.scheme == "bearer":
            # A token without scope proves the credentials (what docker login does).
            self._fetch_token(host, challenge, [], creds)
            return result
        if challenge.scheme != "basic":
            raise ExternalError(
                f"registry {host} asks for unsupported authentication scheme {challenge.scheme!r}"
            )
        response = self._send_raw(
            "GET",
            f"{state.scheme}://{host}/v2/",
            host,
            headers={"Authorization": self._basic_header(creds, host)},
        )
        with closing(response):
            response.read()
        if response.status_code in (401, 403):
            raise AuthenticationError(f"registry {host} refused user {creds.username!r}; check the password")
        if response.status_code != 200:
            raise self._fail(response, "login check", host)
        return result


def blob_digest_of_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 digest and size of a stream (read to the end), for callers pushing files."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


__all__ = [
    "ANONYMOUS",
    "MANIFEST_ACCEPT",
    "Challenge",
    "FetchedManifest",
    "PingResult",
    "RegistryClient",
    "parse_challenge",
    "pull_scope",
    "push_scope",
]
