"""Credentials lookup as docker/podman users expect it, on real files and a real credential helper."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

import pytest

from imgsec.errors import InputError
from imgsec.registry.auth import (
    ANONYMOUS,
    AuthConfig,
    Credentials,
    CredentialStore,
    normalize_host,
    parse_pull_secrets,
    remove_login,
    save_login,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty HOME and no auth-related variables."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "PATH": "/usr/bin:/bin"}


# A real docker-credential helper speaking the protocol: `get` reads the server URL on stdin and
# prints {"ServerURL","Username","Secret"}; unknown servers print the protocol's not-found message.
HELPER = """#!{python}
import json, sys
from pathlib import Path
store = Path({store!r})
data = json.loads(store.read_text()) if store.exists() else {{}}
action = sys.argv[1]
payload = sys.stdin.read().strip()
if action == "get":
    if payload not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    user, secret = data[payload]
    print(json.dumps({{"ServerURL": payload, "Username": user, "Secret": secret}}))
elif action == "store":
    req = json.loads(payload)
    data[req["ServerURL"]] = [req["Username"], req["Secret"]]
    store.write_text(json.dumps(data))
elif action == "erase":
    if payload not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    del data[payload]
    store.write_text(json.dumps(data))
"""


@pytest.fixture
def helper(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install ``docker-credential-test`` on PATH; returns its JSON store file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "helper-store.json"
    exe = bindir / "docker-credential-test"
    exe.write_text(HELPER.format(python=sys.executable, store=str(store)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    monkeypatch.setenv("PATH", env["PATH"])
    return store


@pytest.fixture(autouse=True)
def _path_from_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Helpers are found through the process PATH, so mirror the test env's PATH there.
    monkeypatch.setenv("PATH", env["PATH"])


def test_host_normalisation_matches_docker() -> None:
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"
    assert normalize_host("registry-1.docker.io") == "docker.io"
    assert normalize_host("http://Registry.Example.com:5000/v2/") == "registry.example.com:5000"
    assert normalize_host("quay.io") == "quay.io"


def test_docker_config_base64_auth_and_docker_hub_key(env: dict[str, str]) -> None:
    write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hubpass")},
                "http://reg.example.com:5000/v2/": {"auth": b64("alice:pa:ss")},
            }
        },
    )
    store = CredentialStore.from_environment(env)
    hub = store.get("docker.io", "library/nginx")
    assert (hub.username, hub.password) == ("hubuser", "hubpass")
    # The password may itself contain ':'; only the first one separates.
    other = store.get("reg.example.com:5000")
    assert (other.username, other.password) == ("alice", "pa:ss")
    assert store.get("unknown.example.com") is ANONYMOUS


def test_username_password_fields_and_identity_token(env: dict[str, str]) -> None:
    write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {
            "auths": {
                "a.example.com": {"username": "bob", "password": "pw"},
                "b.example.com": {"identitytoken": "refresh-token-value"},
            }
        },
    )
    store = CredentialStore.from_environment(env)
    assert (store.get("a.example.com").username, store.get("a.example.com").password) == ("bob", "pw")
    tok = store.get("b.example.com")
    assert tok.identity_token == "refresh-token-value"
    assert tok.password is None


def test_docker_config_env_and_registry_auth_file_precedence(tmp_path: Path, env: dict[str, str]) -> None:
    docker_dir = tmp_path / "dockercfg"
    write_json(docker_dir / "config.json", {"auths": {"r.example.com": {"auth": b64("docker:1")}}})
    env["DOCKER_CONFIG"] = str(docker_dir)
    assert CredentialStore.from_environment(env).get("r.example.com").username == "docker"

    runtime = tmp_path / "run"
    write_json(runtime / "containers/auth.json", {"auths": {"r.example.com": {"auth": b64("podman:2")}}})
    env["XDG_RUNTIME_DIR"] = str(runtime)
    assert CredentialStore.from_environment(env).get("r.example.com").username == "podman"

    explicit = write_json(tmp_path / "explicit.json", {"auths": {"r.example.com": {"auth": b64("file:3")}}})
    env["REGISTRY_AUTH_FILE"] = str(explicit)
    store = CredentialStore.from_environment(env)
    assert store.get("r.example.com").username == "file"
    # Entries only in docker's config still resolve when the first file has none for that host.
    write_json(docker_dir / "config.json", {"auths": {"other.example.com": {"auth": b64("docker:1")}}})
    assert CredentialStore.from_environment(env).get("other.example.com").username == "docker"
    # --username/--password-stdin beat every file.
    store.set("r.example.com", Credentials("flag", "pw", source="--username"))
    assert store.get("r.example.com").username == "flag"


def test_repository_scoped_keys_in_containers_auth(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_json(
        tmp_path / "auth.json",
        {
            "auths": {
                "quay.io": {"auth": b64("host:1")},
                "quay.io/org": {"auth": b64("org:2")},
                "quay.io/org/special": {"auth": b64("repo:3")},
            }
        },
    )
    env["REGISTRY_AUTH_FILE"] = str(path)
    store = CredentialStore.from_environment(env)
    assert store.get("quay.io", "org/special").username == "repo"
    assert store.get("quay.io", "org/other").username == "org"
    assert store.get("quay.io", "org2/x").username == "host"
    assert store.get("quay.io", "orgx").username == "host"


def test_credentials_never_show_the_secret() -> None:
    creds = Credentials("alice", "hunter2-very-secret", "idtok-secret", source="x")
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds)
    assert "idtok" not in f"{creds}"
    assert "alice" in repr(creds)


def test_cred_helpers_and_creds_store_via_real_helper(helper: Path, env: dict[str, str]) -> None:
    helper.write_text(
        json.dumps(
            {
                "ghcr.io": ["gh-user", "gh-secret"],
                "https://index.docker.io/v1/": ["hub", "hub-secret"],
                "tok.example.com": ["<token>", "identity-xyz"],
            }
        )
    )
    write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {
            "credHelpers": {"ghcr.io": "test"},
            "auths": {"plain.example.com": {"auth": b64("fileuser:filepw")}},
        },
    )
    store = CredentialStore.from_environment(env)
    gh = store.get("ghcr.io")
    assert (gh.username, gh.password) == ("gh-user", "gh-secret")
    assert "docker-credential-test" in gh.source
    # Not in credHelpers and no credsStore: the auths entry.
    assert store.get("plain.example.com").username == "fileuser"

    write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {"credsStore": "test", "auths": {"plain.example.com": {"auth": b64("fileuser:filepw")}}},
    )
    store = CredentialStore.from_environment(env)
    # docker.io is looked up in helpers under its v1 URL.
    hub = store.get("docker.io", "library/alpine")
    assert (hub.username, hub.password) == ("hub", "hub-secret")
    # "<token>" as user name means the secret is an identity token.
    tok = store.get("tok.example.com")
    assert tok.identity_token == "identity-xyz" and tok.username is None
    # The helper has nothing for this host: fall back to the file entry.
    assert store.get("plain.example.com").username == "fileuser"
    assert store.get("nowhere.example.com") is ANONYMOUS


def test_missing_helper_is_not_fatal(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {"credsStore": "does-not-exist-anywhere", "auths": {"x.example.com": {"auth": b64("u:p")}}},
    )
    store = CredentialStore.from_environment(env)
    assert store.get("x.example.com").username == "u"
    assert store.get("y.example.com") is ANONYMOUS
    assert "docker-credential-does-not-exist-anywhere" in caplog.text


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('{"auths": []}', "'auths' must be an object"),
        ('{"auths": {"r.io": {"auth": "%%%notbase64"}}}', "not base64"),
        (json.dumps({"auths": {"r.io": {"auth": b64("nocolon")}}}), "user:password"),
        ('{"credHelpers": {"r.io": 5}}', "credHelpers"),
        ('["a list"]', "expected a JSON object"),
    ],
)
def test_malformed_auth_files_give_clear_errors(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(InputError, match=needle) as info:
        AuthConfig.load(path)
    assert str(path) in str(info.value)


def test_invalid_helper_name_rejected(env: dict[str, str]) -> None:
    write_json(Path(env["HOME"]) / ".docker/config.json", {"credsStore": "../../bin/sh"})
    store = CredentialStore.from_environment(env)
    with pytest.raises(InputError, match="invalid credential helper name"):
        store.get("r.example.com")


# --- Kubernetes pull secrets ---------------------------------------------------------------------


def _dockerconfigjson(auths: dict[str, object]) -> str:
    return base64.b64encode(json.dumps({"auths": auths}).encode()).decode()


def test_pull_secret_yaml_data_and_string_data() -> None:
    text = f"""
apiVersion: v1
kind: Secret
metadata: {{name: regcred, namespace: apps}}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {_dockerconfigjson({"reg.example.com": {"auth": b64("k8s:pw1")}})}
---
apiVersion: v1
kind: Secret
metadata: {{name: other}}
type: Opaque
data: {{password: {b64("ignored")}}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {{name: plain}}
  type: kubernetes.io/dockerconfigjson
  stringData:
    .dockerconfigjson: '{{"auths": {{"https://index.docker.io/v1/": {{"username": "hub", "password": "pw2"}}}}}}'
"""
    configs = parse_pull_secrets(text, "secrets.yaml")
    assert len(configs) == 2
    store = CredentialStore(configs)
    assert (store.get("reg.example.com").username, store.get("reg.example.com").password) == ("k8s", "pw1")
    assert store.get("docker.io").username == "hub"
    assert "regcred" in store.get("reg.example.com").source


def test_pull_secret_json_and_legacy_dockercfg() -> None:
    legacy = base64.b64encode(json.dumps({"old.example.com": {"auth": b64("legacy:pw")}}).encode()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "old"},
        "type": "kubernetes.io/dockercfg",
        "data": {".dockercfg": legacy},
    }
    store = CredentialStore(parse_pull_secrets(json.dumps(doc), "old.json"))
    assert store.get("old.example.com").username == "legacy"


def test_pull_secret_never_runs_credential_helpers(helper: Path) -> None:
    helper.write_text(json.dumps({"reg.example.com": ["node-user", "node-secret"]}))
    payload = base64.b64encode(json.dumps({"credsStore": "test", "auths": {}}).encode()).decode()
    text = json.dumps(
        {"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": payload}}
    )
    assert CredentialStore(parse_pull_secrets(text, "s.json")).get("reg.example.com") is ANONYMOUS


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '{"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "@@"}}',
            "not base64",
        ),
        ('{"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {}}', "no .dockerconfigjson"),
        (
            '{"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", '
            '"stringData": {".dockerconfigjson": "{bad"}}',
            "not valid JSON",
        ),
        ("kind: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_pull_secrets(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_pull_secrets(text, "s.yaml")


# --- login / logout --------------------------------------------------------------------------------


def test_save_login_writes_docker_config_atomically_0600(env: dict[str, str]) -> None:
    path = write_json(
        Path(env["HOME"]) / ".docker/config.json",
        {"auths": {"keep.example.com": {"auth": b64("k:k")}}, "psFormat": "table {{.ID}}"},
    )
    where = save_login("reg.example.com:5000", Credentials("alice", "pw"), env)
    assert where == str(path)
    data = json.loads(path.read_text())
    assert data["psFormat"] == "table {{.ID}}"
    assert data["auths"]["reg.example.com:5000"] == {"auth": b64("alice:pw")}
    assert data["auths"]["keep.example.com"] == {"auth": b64("k:k")}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp files left
    # docker.io is stored under docker's v1 key, so `docker` finds it too.
    save_login("docker.io", Credentials("hub", "hubpw"), env)
    assert "https://index.docker.io/v1/" in json.loads(path.read_text())["auths"]
    assert CredentialStore.from_environment(env).get("docker.io").password == "hubpw"

    assert remove_login("reg.example.com:5000", env)
    assert "reg.example.com:5000" not in json.loads(path.read_text())["auths"]
    assert not remove_login("reg.example.com:5000", env)


def test_save_login_honours_registry_auth_file(tmp_path: Path, env: dict[str, str]) -> None:
    env["REGISTRY_AUTH_FILE"] = str(tmp_path / "sub" / "auth.json")
    save_login("docker.io", Credentials("u", "p"), env)
    data = json.loads((tmp_path / "sub" / "auth.json").read_text())
    assert data["auths"]["docker.io"] == {"auth": b64("u:p")}
    assert not (Path(env["HOME"]) / ".docker/config.json").exists()


def test_save_login_uses_configured_helper(helper: Path, env: dict[str, str]) -> None:
    path = write_json(Path(env["HOME"]) / ".docker/config.json", {"credsStore": "test"})
    where = save_login("reg.example.com", Credentials("alice", "pw"), env)
    assert "docker-credential-test" in where
    assert json.loads(helper.read_text()) == {"reg.example.com": ["alice", "pw"]}
    assert "pw" not in path.read_text()
    assert CredentialStore.from_environment(env).get("reg.example.com").password == "pw"
    assert remove_login("reg.example.com", env)
    assert json.loads(helper.read_text()) == {}
