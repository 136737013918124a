"""Registry credentials: docker/podman auth files, credential helpers, pull secrets, explicit flags.

Lookup follows what ``docker`` and ``podman`` do, so a user's existing ``docker login`` just works:

1. explicit credentials (``--username`` + ``--password-stdin``);
2. ``REGISTRY_AUTH_FILE``, else ``${XDG_RUNTIME_DIR}/containers/auth.json`` and
   ``${XDG_CONFIG_HOME}/containers/auth.json`` (podman, skopeo, buildah);
3. ``${DOCKER_CONFIG:-~/.docker}/config.json``: ``credHelpers[host]``, then ``credsStore``, then ``auths``.

Keys are matched like docker (``https://index.docker.io/v1/`` is ``docker.io``; scheme and path are
stripped) and like containers-auth.json (``host/namespace/repo`` keys win over ``host`` for that repo).
Credential helpers are run with the real ``docker-credential-<name> get|store|erase`` protocol.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imgsec.errors import ExternalError, InputError

log = logging.getLogger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_MAX_AUTH_FILE_SIZE = 4 * 1024 * 1024
_HELPER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HELPER_TIMEOUT = 30.0
_TOKEN_USERNAME = "<token>"  # noqa: S105 (the helper protocol marker, not a secret)
DOCKERCONFIGJSON_TYPE = "kubernetes.io/dockerconfigjson"
DOCKERCFG_TYPE = "kubernetes.io/dockercfg"


@dataclass(frozen=True)
class Credentials:
    """User name and secret for one registry. ``repr``/``str`` never show the secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: An OAuth2 refresh token (docker's ``identitytoken``); exchanged for bearer tokens.
    identity_token: str | None = field(default=None, repr=False)
    #: Where they came from (a file path, ``credential helper X``, ``--username``), for messages.
    source: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    def __repr__(self) -> str:
        secret = "<redacted>" if (self.password or self.identity_token) else "None"
        return f"Credentials(username={self.username!r}, secret={secret}, source={self.source!r})"

    __str__ = __repr__


ANONYMOUS = Credentials(source="anonymous")


def normalize_host(key: str) -> str:
    """The registry host a config key or server URL names (docker's ``ConvertToHostname``), lowercased.

    ``https://index.docker.io/v1/``, ``index.docker.io`` and ``registry-1.docker.io`` are ``docker.io``.
    """
    stripped = key.strip()
    for prefix in ("http://", "https://"):
        if stripped.lower().startswith(prefix):
            stripped = stripped[len(prefix) :]
            break
    host = stripped.split("/", 1)[0].lower()
    return "docker.io" if host in _DOCKER_HUB_ALIASES else host


def _key_scope(key: str) -> tuple[str, str]:
    """(host, repository path or "") of an auths key; URL keys (with a scheme) never carry a repo path."""
    text = key.strip()
    if "://" in text:
        return normalize_host(text), ""
    host, _, path = text.partition("/")
    return normalize_host(host), path.strip("/")


def _repo_within(repository: str | None, prefix: str) -> bool:
    return repository is not None and (repository == prefix or repository.startswith(prefix + "/"))


def helper_server_url(host: str) -> str:
    """The server URL docker passes to credential helpers and stores in ``auths`` for ``host``."""
    return DOCKER_HUB_KEY if normalize_host(host) == "docker.io" else normalize_host(host)


def _decode_auth_entry(key: str, entry: Any, source: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise InputError(f"{source}: auths[{key!r}] must be an object")
    username = entry.get("username")
    password = entry.get("password")
    identity = entry.get("identitytoken")
    auth = entry.get("auth")
    if auth not in (None, ""):
        if not isinstance(auth, str):
            raise InputError(f"{source}: auths[{key!r}].auth must be a base64 string")
        try:
            decoded = base64.b64decode(auth.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InputError(
                f"{source}: auths[{key!r}].auth is not base64 of 'user:password'; run `imgsec registry login` again"
            ) from exc
        user, sep, pw = decoded.partition(":")
        if not sep:
            raise InputError(f"{source}: auths[{key!r}].auth does not decode to 'user:password'")
        username, password = user, pw
    for name, value in (("username", username), ("password", password), ("identitytoken", identity)):
        if value is not None and not isinstance(value, str):
            raise InputError(f"{source}: auths[{key!r}].{name} must be a string")
    creds = Credentials(username or None, password or None, identity or None, source)
    return None if creds.anonymous else creds


@dataclass(frozen=True)
class AuthConfig:
    """One parsed docker ``config.json`` / containers ``auth.json`` / pull secret."""

    source: str
    auths: Mapping[str, Credentials] = field(default_factory=dict)
    cred_helpers: Mapping[str, str] = field(default_factory=dict)
    creds_store: str | None = None

    @classmethod
    def from_dict(cls, data: Any, source: str) -> AuthConfig:
        if not isinstance(data, dict):
            raise InputError(f"{source}: expected a JSON object")
        raw_auths = data.get("auths", {})
        if raw_auths is None:
            raw_auths = {}
        if not isinstance(raw_auths, dict):
            raise InputError(f"{source}: 'auths' must be an object mapping registries to credentials")
        auths: dict[str, Credentials] = {}
        for key, entry in raw_auths.items():
            creds = _decode_auth_entry(str(key), entry, source)
            if creds is not None:
                auths[str(key)] = creds
        helpers = data.get("credHelpers") or {}
        if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
            raise InputError(f"{source}: 'credHelpers' must map registries to helper names")
        store = data.get("credsStore") or None
        if store is not None and not isinstance(store, str):
            raise InputError(f"{source}: 'credsStore' must be a helper name")
        return cls(source, auths, {str(k): v for k, v in helpers.items()}, store)

    @classmethod
    def load(cls, path: Path) -> AuthConfig:
        try:
            if path.stat().st_size > _MAX_AUTH_FILE_SIZE:
                raise InputError(f"auth file {path}: larger than 4 MiB")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read auth file {path}: {exc}") from exc
        if not text.strip():
            return cls(str(path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"auth file {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        return cls.from_dict(data, str(path))

    def helper_for(self, host: str) -> str | None:
        host = normalize_host(host)
        for key, name in self.cred_helpers.items():
            if normalize_host(key) == host:
                return name
        return self.creds_store

    def lookup_auths(self, host: str, repository: str | None = None) -> Credentials | None:
        """The most specific ``auths`` entry for ``host`` (and ``repository``), if any."""
        host = normalize_host(host)
        best: tuple[int, Credentials] | None = None
        for key, creds in self.auths.items():
            key_host, key_path = _key_scope(key)
            if key_host != host:
                continue
            if key_path and not _repo_within(repository, key_path):
                continue
            rank = len(key_path) + 1 if key_path else 0
            if best is None or rank > best[0]:
                best = (rank, creds)
        return best[1] if best else None

    def lookup(self, host: str, repository: str | None = None) -> Credentials | None:
        helper = self.helper_for(host)
        if helper is not None:
            creds = run_helper_get(helper, host)
            if creds is not None:
                return creds
        return self.lookup_auths(host, repository)


# --- credential helpers ---------------------------------------------------------------------------


def _helper_exe(name: str) -> str:
    if not _HELPER_NAME_RE.match(name):
        raise InputError(f"invalid credential helper name {name!r} in the docker config")
    return f"docker-credential-{name}"


def _run_helper(name: str, action: str, payload: str) -> subprocess.CompletedProcess[bytes] | None:
    exe = _helper_exe(name)
    try:
        return subprocess.run(
            [exe, action], input=payload.encode(), capture_output=True, timeout=_HELPER_TIMEOUT, check=False
        )
    except FileNotFoundError:
        log.warning("credential helper %s is configured but not installed; continuing without it", exe)
        return None
    except subprocess.TimeoutExpired as exc:
        raise ExternalError(f"credential helper {exe} did not answer within {_HELPER_TIMEOUT:.0f}s") from exc
    except OSError as exc:
        raise ExternalError(f"cannot run credential helper {exe}: {exc}") from exc


def run_helper_get(name: str, host: str) -> Credentials | None:
    """``docker-credential-<name> get`` for ``host``; None when it has no credentials (or is missing)."""
    server = helper_server_url(host)
    proc = _run_helper(name, "get", server)
    if proc is None:
        return None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        # The protocol's "not found" answer; anything else is an error worth a warning, not a crash.
        if "credentials not found" not in out.lower():
            log.warning("credential helper %s failed for %s: %s", _helper_exe(name), server, out[:200])
        return None
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise ExternalError(f"credential helper {_helper_exe(name)} printed invalid JSON") from exc
    if not isinstance(data, dict):
        raise ExternalError(f"credential helper {_helper_exe(name)} printed JSON that is not an object")
    username, secret = data.get("Username"), data.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    source = f"credential helper {_helper_exe(name)}"
    if username == _TOKEN_USERNAME:
        return Credentials(None, None, secret, source)
    return Credentials(username, secret, None, source)


def run_helper_store(name: str, host: str, creds: Credentials) -> None:
    payload = json.dumps(
        {
            "ServerURL": helper_server_url(host),
            "Username": creds.username if creds.identity_token is None else _TOKEN_USERNAME,
            "Secret": creds.identity_token or creds.password or "",
        }
    )
    proc = _run_helper(name, "store", payload)
    if proc is None:
        raise InputError(f"credential helper {_helper_exe(name)} is configured but not installed; install it")
    if proc.returncode != 0:
        msg = proc.stdout.decode("utf-8", "replace").strip()[:200]
        raise ExternalError(f"credential helper {_helper_exe(name)} could not store credentials: {msg}")


def run_helper_erase(name: str, host: str) -> bool:
    proc = _run_helper(name, "erase", helper_server_url(host))
    return proc is not None and proc.returncode == 0


# --- where auth files live -----------------------------------------------------------------------


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG")
    return (
        Path(base) / "config.json"
        if base
        else Path(env.get("HOME") or Path.home()) / ".docker" / "config.json"
    )


def auth_file_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """Auth files in lookup order (podman's, then docker's)."""
    env = os.environ if env is None else env
    out: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        out.append(Path(env["REGISTRY_AUTH_FILE"]))
    else:
        if env.get("XDG_RUNTIME_DIR"):
            out.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        home = Path(env.get("HOME") or Path.home())
        xdg_config = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        out.append(xdg_config / "containers" / "auth.json")
    out.append(docker_config_path(env))
    return out


def login_file_path(env: Mapping[str, str] | None = None) -> Path:
    """Where ``imgsec registry login`` writes: ``REGISTRY_AUTH_FILE`` if set, else docker's config.json."""
    env = os.environ if env is None else env
    return Path(env["REGISTRY_AUTH_FILE"]) if env.get("REGISTRY_AUTH_FILE") else docker_config_path(env)


class CredentialStore:
    """Credentials for any registry, from explicit values and auth files, looked up by host (and repo)."""

    def __init__(
        self,
        configs: Sequence[AuthConfig] = (),
        explicit: Mapping[str, Credentials] | None = None,
    ) -> None:
        self._configs = list(configs)
        self._explicit = {normalize_host(k): v for k, v in (explicit or {}).items()}

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        explicit: Mapping[str, Credentials] | None = None,
    ) -> CredentialStore:
        """The auth files found on this machine (missing ones are skipped)."""
        configs = [AuthConfig.load(p) for p in auth_file_candidates(env) if p.is_file()]
        return cls(configs, explicit)

    def set(self, host: str, creds: Credentials) -> None:
        """Use ``creds`` for ``host`` before anything from files (``--username``/``--password-stdin``)."""
        self._explicit[normalize_host(host)] = creds

    def add_config(self, config: AuthConfig) -> None:
        """Consult ``config`` after the ones already known (e.g. a Kubernetes pull secret)."""
        self._configs.append(config)

    def get(self, host: str, repository: str | None = None) -> Credentials:
        """Credentials for ``host``/``repository``; :data:`ANONYMOUS` if none are configured."""
        explicit = self._explicit.get(normalize_host(host))
        if explicit is not None:
            return explicit
        for config in self._configs:
            creds = config.lookup(host, repository)
            if creds is not None:
                return creds
        return ANONYMOUS


# --- Kubernetes pull secrets ---------------------------------------------------------------------


def _iter_k8s_objects(docs: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or (isinstance(doc.get("items"), list) and "kind" not in doc):
            yield from _iter_k8s_objects(doc.get("items") or [])
        else:
            yield doc


def parse_pull_secrets(text: str, source: str) -> list[AuthConfig]:
    """Parse ``kubernetes.io/dockerconfigjson`` (and legacy ``dockercfg``) Secrets from YAML or JSON.

    Accepts one or many documents and ``List`` objects; Secrets of other types are ignored.
    """
    if len(text) > _MAX_AUTH_FILE_SIZE:
        raise InputError(f"{source}: larger than 4 MiB")
    try:
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML or JSON: {str(exc).splitlines()[0]}") from exc
    out: list[AuthConfig] = []
    for obj in _iter_k8s_objects(docs):
        if obj.get("kind") != "Secret" or obj.get("type") not in (DOCKERCONFIGJSON_TYPE, DOCKERCFG_TYPE):
            continue
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        where = f"{source} (Secret {name or '?'})"
        key = ".dockerconfigjson" if obj.get("type") == DOCKERCONFIGJSON_TYPE else ".dockercfg"
        data, string_data = obj.get("data") or {}, obj.get("stringData") or {}
        if not isinstance(data, dict) or not isinstance(string_data, dict):
            raise InputError(f"{where}: 'data' and 'stringData' must be mappings")
        if isinstance(string_data.get(key), str):
            raw = string_data[key]
        elif isinstance(data.get(key), str):
            try:
                raw = base64.b64decode(data[key].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise InputError(f"{where}: data[{key!r}] is not base64-encoded UTF-8 JSON") from exc
        else:
            raise InputError(f"{where}: has no {key} entry")
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: {key} is not valid JSON ({exc.msg})") from exc
        if key == ".dockercfg":
            payload = {"auths": payload}
        config = AuthConfig.from_dict(payload, where)
        # Pull secrets never run local credential helpers: that would leak the node's credentials.
        out.append(AuthConfig(config.source, config.auths))
    return out


# --- writing (login / logout) --------------------------------------------------------------------


def _read_json_object(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    config = AuthConfig.load(path)  # validates
    del config
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent="\t")
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _auth_key(path: Path, host: str, env: Mapping[str, str]) -> str:
    # Docker writes Docker Hub as its v1 URL; podman's auth.json uses plain host names.
    if normalize_host(host) == "docker.io" and path == docker_config_path(env):
        return DOCKER_HUB_KEY
    return normalize_host(host)


def save_login(host: str, creds: Credentials, env: Mapping[str, str] | None = None) -> str:
    """Store ``creds`` for ``host`` like ``docker login``; returns where (file path or helper)."""
    env = os.environ if env is None else env
    path = login_file_path(env)
    data = _read_json_object(path)
    config = AuthConfig.from_dict(data, str(path))
    helper = config.helper_for(host)
    if helper is not None:
        run_helper_store(helper, host, creds)
        auths = data.setdefault("auths", {})
        if isinstance(auths, dict):
            # docker keeps an empty entry so the registry shows up in the file; remove stale secrets.
            for key in [k for k in auths if normalize_host(k) == normalize_host(host)]:
                del auths[key]
            auths[_auth_key(path, host, env)] = {}
            _write_json_atomic(path, data)
        return f"credential helper docker-credential-{helper}"
    auths = data.get("auths")
    if not isinstance(auths, dict):
        auths = {}
        data["auths"] = auths
    for key in [k for k in auths if _key_scope(k) == (normalize_host(host), "")]:
        del auths[key]
    entry: dict[str, str] = {}
    if creds.identity_token:
        entry["identitytoken"] = creds.identity_token
    else:
        raw = f"{creds.username or ''}:{creds.password or ''}".encode()
        entry["auth"] = base64.b64encode(raw).decode("ascii")
    auths[_auth_key(path, host, env)] = entry
    _write_json_atomic(path, data)
    return str(path)


def remove_login(host: str, env: Mapping[str, str] | None = None) -> bool:
    """Forget credentials for ``host`` (auth file entries and helper); True if anything was removed."""
    env = os.environ if env is None else env
    path = login_file_path(env)
    if not path.exists():
        return False
    data = _read_json_object(path)
    config = AuthConfig.from_dict(data, str(path))
    removed = False
    helper = config.helper_for(host)
    if helper is not None:
        removed = run_helper_erase(helper, host)
    auths = data.get("auths")
    if isinstance(auths, dict):
        keys = [k for k in auths if _key_scope(k) == (normalize_host(host), "")]
        for key in keys:
            del auths[key]
        if keys:
            _write_json_atomic(path, data)
            removed = True
    return removed
