"""Secret detectors: realistic samples are found, near-misses are not, and nothing leaks in full.

Samples are made at test time from the formats their issuers document (GitHub, GitLab, Slack,
Stripe, npm, PyPI, AWS, Google, Azure, Docker, Kubernetes, RFC 7519), with random bodies from
``secrets`` and real keys from ``cryptography``; no credential is committed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import secrets
import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from imgsec.findings import FindingKind, Severity
from imgsec.image.layers import LayerResult
from imgsec.sbom.catalogers.base import FileInfo
from imgsec.secrets import ALL_RULES, SecretFinding, find_image_secrets, redact, scan_bytes, secret_route
from imgsec.secrets.detect import high_entropy, shannon_entropy
from imgsec.secrets.image import wants

ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def rsa_pem(fmt: serialization.PrivateFormat = serialization.PrivateFormat.TraditionalOpenSSL) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def ids(text: str | bytes, path: str = "app/config") -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [m.rule_id for m in scan_bytes(data, path)]


# --- each detector on a realistic sample -----------------------------------------------------------


def test_aws_access_key_id_and_secret() -> None:
    key_id = "AKIA" + rand(16, string.ascii_uppercase + "234567")
    secret = rand(40, ALNUM + "/+")
    text = f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    matches = scan_bytes(text.encode(), "root/.aws/credentials")
    assert [(m.rule_id, m.line, m.severity) for m in matches] == [
        ("IS-SEC-001", 2, Severity.HIGH),
        ("IS-SEC-002", 3, Severity.CRITICAL),
    ]


def test_aws_documentation_keys_are_reported_low_as_examples() -> None:
    # The key pair the AWS documentation uses everywhere.
    text = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    matches = scan_bytes(text.encode(), "app/.env")
    assert [(m.rule_id, m.severity) for m in matches] == [
        ("IS-SEC-001", Severity.LOW),
        ("IS-SEC-002", Severity.LOW),
    ]
    assert all("example" in m.title for m in matches)


def test_gcp_service_account_json() -> None:
    pem = rsa_pem(serialization.PrivateFormat.PKCS8)
    doc = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": rand(40, "0123456789abcdef"),
        "private_key": pem,
        "client_email": "ci@demo-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    assert ids(json.dumps(doc, indent=2), "app/sa.json") == ["IS-SEC-003"]


def test_azure_storage_connection_string() -> None:
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    text = f'STORAGE="DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={key};EndpointSuffix=core.windows.net"\n'
    assert "IS-SEC-004" in ids(text, "app/settings.conf")


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(rsa_pem, id="rsa-traditional"),
        pytest.param(lambda: rsa_pem(serialization.PrivateFormat.PKCS8), id="pkcs8"),
        pytest.param(
            lambda: (
                ec.generate_private_key(ec.SECP256R1())
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
                .decode()
            ),
            id="ec",
        ),
        pytest.param(
            lambda: (
                ed25519.Ed25519PrivateKey.generate()
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
                .decode()
            ),
            id="openssh",
        ),
        pytest.param(
            lambda: (
                rsa.generate_private_key(public_exponent=65537, key_size=1024)
                .private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"pass phrase"),
                )
                .decode()
            ),
            id="encrypted-pkcs8",
        ),
        pytest.param(
            # RFC 4880 armor: header, blank line, base64 body, checksum, footer.
            lambda: (
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n"
                + "\n".join(base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(8))
                + "\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----\n"
            ),
            id="pgp",
        ),
    ],
)
def test_private_keys(pem: object) -> None:
    text = pem() if callable(pem) else str(pem)
    matches = scan_bytes(text.encode(), "root/.ssh/id_key")
    assert [m.rule_id for m in matches] == ["IS-SEC-005"]
    assert matches[0].line == 2 or "PGP" in text  # the secret is the body, which starts on line 2


def test_private_key_type_is_in_the_title() -> None:
    assert scan_bytes(rsa_pem().encode())[0].title == "Private key (RSA)"


@pytest.mark.parametrize(
    ("token", "rule"),
    [
        (lambda: "ghp_" + rand(36), "IS-SEC-006"),
        (lambda: "gho_" + rand(36), "IS-SEC-006"),
        (lambda: "ghs_" + rand(36), "IS-SEC-006"),
        (lambda: "github_pat_" + rand(22) + "_" + rand(59), "IS-SEC-006"),
        (lambda: "glpat-" + rand(20, ALNUM + "-_"), "IS-SEC-007"),
        (lambda: f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}", "IS-SEC-008"),
        (
            lambda: (
                f"xoxp-{rand(11, string.digits)}-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(32, '0123456789abcdef')}"
            ),
            "IS-SEC-008",
        ),
        (lambda: "sk_live_" + rand(24), "IS-SEC-010"),
        (lambda: "npm_" + rand(36), "IS-SEC-011"),
        (lambda: "pypi-AgEIcHlwaS5vcmc" + rand(70, ALNUM + "-_"), "IS-SEC-012"),
    ],
)
def test_token_formats(token: object, rule: str) -> None:
    value = token() if callable(token) else str(token)
    # In a shell script, a YAML file and a JSON document alike.
    for text, path in (
        (f"curl -H 'Authorization: Bearer {value}' https://api.internal\n", "app/deploy.sh"),
        (f"service:\n  credential_ref: {value}\n", "app/config.yaml"),
        (json.dumps({"x": value}), "app/x.json"),
    ):
        assert ids(text, path) == [rule], (path, rule)


def test_slack_webhook() -> None:
    url = f"https://hooks.slack.com/services/T{rand(8, string.ascii_uppercase + string.digits)}/B{rand(8, string.ascii_uppercase + string.digits)}/{rand(24)}"
    assert ids(f"notify_url = {url}\n") == ["IS-SEC-009"]


def test_docker_config_auths() -> None:
    auth = base64.b64encode(f"ci-bot:{rand(20)}".encode()).decode()
    doc = {"auths": {"registry.internal:5000": {"auth": auth}}}
    assert ids(json.dumps(doc, indent="\t"), "root/.docker/config.json") == ["IS-SEC-013"]


def test_kubeconfig_client_key_and_token() -> None:
    client_key = base64.b64encode(rsa_pem().encode()).decode()
    sa_token = rand(64, ALNUM + "-_")
    kubeconfig = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://10.0.0.1:6443
  name: prod
users:
- name: admin
  user:
    client-certificate-data: {base64.b64encode(b"not checked").decode()}
    client-key-data: {client_key}
- name: ci
  user:
    token: {sa_token}
"""
    assert ids(kubeconfig, "root/.kube/config") == ["IS-SEC-014", "IS-SEC-015"]


def test_jwt() -> None:
    token = ".".join(
        [
            b64url({"alg": "RS256", "typ": "JWT"}),
            b64url({"sub": "system:serviceaccount:ci:deployer"}),
            rand(86, ALNUM + "-_"),
        ]
    )
    assert ids(f"Authorization: Bearer {token}\n", "app/request.http") == ["IS-SEC-016"]


def test_basic_auth_url() -> None:
    password = rand(14)
    matches = scan_bytes(
        f"DATABASE_URL=postgres://app:{password}@db.internal:5432/app\n".encode(), "app/.env"
    )
    assert [m.rule_id for m in matches] == ["IS-SEC-017"]


@pytest.mark.parametrize(
    ("text", "path", "rule"),
    [
        ("DB_PASSWORD=hunter2hunter2\n", "app/.env", "IS-SEC-018"),
        ("export MYSQL_ROOT_PASSWORD='p4ss-w0rd-2024'\n", "app/entrypoint.sh", "IS-SEC-018"),
        ("database:\n  password: Tr0ub4dor&3\n", "app/config.yml", "IS-SEC-018"),
        ('{"client_secret": "abcdefgh-1234"}', "app/oauth.json", "IS-SEC-018"),
        ("JWT_SECRET=not-a-random-string\n", "app/.env.production", "IS-SEC-018"),
        ('db_password = "correct horse battery"\n', "app/settings.py", "IS-SEC-018"),
        ("API_TOKEN={}\n", "app/.env", "IS-SEC-019"),
        ('SECRET_KEY = "{}"\n', "app/settings.py", "IS-SEC-019"),
        ("signing_secret: {}\n", "etc/app/app.yaml", "IS-SEC-019"),
    ],
)
def test_secret_like_assignments(text: str, path: str, rule: str) -> None:
    if "{}" in text:
        # 64 random base64 characters: about 5.5 bits each, well above the 4.5 threshold.
        text = text.replace("{}", base64.b64encode(secrets.token_bytes(48)).decode())
    assert ids(text, path) == [rule]


def test_netrc_and_npmrc() -> None:
    assert ids(f"machine git.internal login ci password {rand(16)}\n", "root/.netrc") == ["IS-SEC-021"]
    assert ids(f"//npm.internal/:_authToken={rand(36, '0123456789abcdef-')}\n", "root/.npmrc") == [
        "IS-SEC-020"
    ]


def test_every_rule_has_a_stable_id_severity_and_title() -> None:
    seen = {r.id for r in ALL_RULES}
    assert len(seen) == len(ALL_RULES)
    assert all(r.id.startswith("IS-SEC-") and len(r.id) == 10 and r.title for r in ALL_RULES)


# --- near-misses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("key=AKIA" + "ABCDEFGHIJKLMNO\n", "app/a.conf"),  # AKIA + 15 characters
        ("value=AKIA" + "ABCDEFGHIJKLMNOPQ\n", "app/a.conf"),  # AKIA + 17 characters
        ("see ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R\n", "app/a.conf"),  # 35 characters
        ("STRIPE=sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc\n", "app/a.conf"),  # test-mode key
        ("PASSWORD=changeme\n", "app/.env"),  # a placeholder telling the operator to set one
        ("password=password\n", "app/.env"),
        ("DB_PASSWORD=${DB_PASSWORD}\n", "app/.env"),  # a reference, not a value
        ("DB_PASSWORD=$DB_PASSWORD\n", "app/.env"),
        ("password: {{ .Values.db.password }}\n", "app/chart/values.yaml"),
        ("PASSWORD_FILE=/run/secrets/db_password\n", "app/.env"),  # the name says it is a path
        ("TOKEN_URL=https://auth.internal/token\n", "app/.env"),
        ("PASSWORD_MIN_LENGTH=12\n", "app/.env"),
        ("API_TOKEN=<your-token-here>\n", "app/.env"),
        ("GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "app/.env"),
        ('TOKEN_BLOCK_BEGIN = "block_begin"\n', "app/lexer.py"),  # a lexer constant, not a secret
        ("password = get_password()\n", "app/db.py"),  # an expression
        ("url = 'https://user:password@example.com/'\n", "app/doc.py"),
        ("url = 'https://${USER}:${TOKEN}@git.internal/'\n", "app/clone.sh"),
        ('PEM_MARKER = "-----BEGIN PRIVATE KEY-----"\n', "app/pem.py"),  # a parser's constant
        ("eyJhbGciOi.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n", "app/a"),
    ],
)
def test_near_misses_are_not_reported(text: str, path: str) -> None:
    assert ids(text, path) == []


def test_public_keys_and_certificates_are_not_private_keys() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert ids(pem) == []
    assert ids(ssh + b" ci@host\n", "root/.ssh/authorized_keys") == []


def test_third_party_package_trees_only_get_token_rules() -> None:
    jwt = ".".join([b64url({"alg": "HS256"}), b64url({"sub": "docs"}), rand(43, ALNUM + "-_")])
    doc = f"Example: {jwt}\npassword = 'hunter2hunter2'\nurl = 'postgres://u:{rand(12)}@db.internal/x'\n"
    path = "usr/local/lib/python3.11/site-packages/jwtlib/README.txt"
    assert ids(doc, path) == []
    token = "ghp_" + rand(36)
    assert ids(f"TOKEN = '{token}'\n", "usr/local/lib/python3.11/site-packages/leaky/conf.py") == [
        "IS-SEC-006"
    ]


def test_entropy_thresholds_follow_detect_secrets() -> None:
    # Shannon entropy by its definition: 4 equally likely symbols -> 2 bits each.
    assert shannon_entropy(b"abcd" * 8) == pytest.approx(2.0)
    assert high_entropy(base64.b64encode(secrets.token_bytes(48)))
    assert high_entropy(secrets.token_hex(20).encode())
    assert not high_entropy(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert not high_entropy(b"20240101202401012024")  # digits only: the numeric correction


def test_a_hostile_file_cannot_flood_the_report() -> None:
    text = "".join(f"k{i}=ghp_{rand(36)}\n" for i in range(500))
    assert len(scan_bytes(text.encode(), "app/x")) == 50


# --- redaction ---------------------------------------------------------------------------------------


def test_redact_shows_at_most_four_characters_and_never_a_quarter_more() -> None:
    assert redact("ghp_" + "A" * 36) == "ghp_****(40)"
    assert redact("hunter2") == "h****(7)"
    assert redact("abc") == "****(3)"


def _finding_from(text: bytes, path: str) -> list[SecretFinding]:
    route = secret_route()
    info = FileInfo(path, 0o644, len(text), "sha256:" + "1" * 64)
    layer = LayerResult(
        layer=info.layer, results={route.name: {path: route.analyze(info, text)}}, non_dirs={path}
    )
    from imgsec.image.model import Image

    image = Image("oci:x", None, {}, None, {}, (), open_blob=lambda d: None)  # type: ignore[arg-type]
    return find_image_secrets(image, [layer])


def test_no_secret_appears_in_full_in_findings_reprs_json_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    samples = {
        "ghp_" + rand(36): "GITHUB_TOKEN={}\n",
        rand(40, ALNUM + "/+"): "aws_secret_access_key = {}\n",
        "hunter2-" + rand(8): "DB_PASSWORD={}\n",
        rand(18): "DATABASE_URL=mysql://app:{}@db.internal/app\n",
        "sk_live_" + rand(30): "stripe: {}\n",
    }
    text = "".join(t.format(s) for s, t in samples.items()).encode()
    findings = _finding_from(text, "app/.env")
    assert len(findings) == len(samples)
    dumped = [
        repr(findings),
        str(findings),
        json.dumps([dataclasses.asdict(f) for f in findings], default=str),
    ]
    for f in findings:
        dumped.extend([repr(f), str(f), f.match, f.title])
    try:
        from imgsec.report.scan import finding_to_json
    except ImportError:  # the report module belongs to the scan command; optional here
        pass
    else:
        dumped.extend(json.dumps(finding_to_json(f)) for f in findings)
    dumped.append(caplog.text)
    for secret in samples:
        assert not any(secret in d for d in dumped), "a secret leaked in full"
        assert not any(secret[4:] in d for d in dumped)
    assert all(f.kind is FindingKind.SECRET and "****" in f.match for f in findings)


# --- which files are read ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size", "wanted"),
    [
        ("app/.env", 100, True),
        ("root/.ssh/id_rsa", 1700, True),
        ("etc/ssh/ssh_host_ed25519_key", 400, True),
        ("usr/local/bin/entrypoint.sh", 100, True),
        ("app/empty", 0, False),
        ("app/huge.log", 11 * 1024 * 1024, False),
        ("usr/share/doc/openssl/README", 100, False),
        ("usr/lib/python3/dist-packages/x/y.py", 100, False),
        ("usr/local/lib/python3.11/site-packages/cryptography/hazmat/tests/keys.py", 100, False),
        ("app/node_modules/jsonwebtoken/test/fixtures/key.pem", 100, False),
        ("app/node_modules/leftpad/index.js", 100, True),
        ("app/static/logo.png", 100, False),
        ("app/lib/libfoo.so.1.2", 100, False),
        ("app/locale/de/LC_MESSAGES/django.po", 100, False),
    ],
)
def test_route_wants(path: str, size: int, wanted: bool) -> None:
    assert wants(FileInfo(path, 0o644, size)) is wanted


def test_binary_content_is_skipped() -> None:
    token = "ghp_" + rand(36)
    content = b"\x7fELF\x00\x00" + token.encode()
    assert secret_route().analyze(FileInfo("app/bin", 0o755, len(content)), content) == ()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"eyJ" * 350_000, id="jwt-prefix-run"),
        pytest.param(b"ghp_" + b"a" * 1_000_000, id="endless-token"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\n" * 37_000, id="pem-headers"),
        pytest.param(b"://a:" * 200_000, id="url-prefixes"),
        pytest.param(b"a_password_" * 95_000, id="one-long-name"),
        pytest.param(b"token: " * 150_000, id="yaml-keys-on-one-line"),
        pytest.param(b"AKIA" * 250_000, id="aws-prefix-run"),
        pytest.param(b"xoxb-1-" * 150_000, id="slack-segments"),
    ],
)
@pytest.mark.timeout(60)
def test_hostile_content_does_not_hang(content: bytes) -> None:
    # A guard against catastrophic backtracking (which takes minutes or hours on 1 MB), not a speed
    # target: bench/bench_catalogers.py measures the scanner's throughput on these inputs.
    scan_bytes(content, "app/hostile.env")
