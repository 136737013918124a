"""Secret detectors: compiled rules over the bytes of one file (or one config string).

Each rule has a stable id (``IS-SEC-NNN``), a severity, a title, lowercase keywords and a regex.
A rule's regex runs only when one of its keywords occurs in the lowercased content, so a file
without any keyword costs one ``lower()`` and a few substring searches; that is what keeps secret
scanning a small fraction of the layer read (see ``docs`` in the package ``__init__``).

Decisions (documented for users in the rule table of the README):

* Token formats with a fixed prefix (GitHub, GitLab, Slack, Stripe, npm, PyPI, AWS) are reported on
  their own.  A value containing ``example`` (the AWS documentation keys ``AKIAIOSFODNN7EXAMPLE``
  and ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``) is reported as LOW with "(documentation
  example)" in the title, not dropped: it still tells someone copied documentation into the image.
  Obvious placeholders (``xxxx``, ``your-token``, a single repeated character) are dropped.
* Assignments to secret-like names (``DB_PASSWORD=...``, ``"client_secret": "..."``, ``.env``
  files) are reported when the value is a literal: a variable reference (``$X``, ``${X}``,
  ``{{ x }}``, ``%(x)s``), a path, or a placeholder (``changeme``, ``password``, ``<secret>``,
  ``example``) is not a leaked credential and is skipped.  In source code (``.py``, ``.js``, ...)
  only quoted literals count, since a bare right-hand side there is an expression.  A value with
  high Shannon entropy (the detect-secrets thresholds: > 4.5 bits/char in base64 alphabet,
  > 3.0 in hex) is reported as HIGH, any other literal as MEDIUM.
* Matches never leave this module in full: :class:`Hit` holds offsets, and
  :func:`scan_bytes` returns :class:`~imgsec.secrets.model.SecretMatch` with redacted text only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from imgsec.findings import Severity
from imgsec.lint.rules.secrets import is_secret_name, name_words
from imgsec.secrets.model import SecretMatch, redact

#: At most this many matches are kept per file (a hostile file must not flood the report).
MAX_MATCHES_PER_FILE = 50

_Check = Callable[[bytes, bytes, "re.Match[bytes]"], bool]


@dataclass(frozen=True)
class Rule:
    """One detector. ``group`` is the regex group holding the secret (what gets redacted).

    Speed comes from the regex's literal prefix (``re`` finds it as fast as ``bytes.find``);
    a rule whose regex cannot start with a literal names ``keywords`` (case-sensitive) that must
    occur in the content before the regex runs.  Word boundaries are lookbehinds placed *after*
    the literal (a leading lookbehind disables the prefix search), and runs are possessive, so
    hostile input (``eyJeyJeyJ...``) costs linear time.
    """

    id: str
    title: str
    severity: Severity
    pattern: re.Pattern[bytes]
    group: int = 1
    keywords: tuple[bytes, ...] = ()
    #: Extra validation: ``check(content, lowered_content, match)``; false drops the match.
    check: _Check | None = None
    #: Token formats: values with "example" become LOW, obvious placeholders are dropped.
    token_format: bool = True
    #: Skipped inside third-party package trees, where such matches are documentation and tests.
    contextual: bool = False
    #: Only for files with one of these base names (empty: every file).
    basenames: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """A match before redaction: offsets into the scanned bytes (never copied into results)."""

    rule: Rule
    start: int
    end: int
    severity: Severity
    title: str


# --- entropy and placeholders ---------------------------------------------------------------------

_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
_HEX_CHARS = frozenset(b"0123456789abcdefABCDEF")
BASE64_ENTROPY_LIMIT = 4.5
HEX_ENTROPY_LIMIT = 3.0


def shannon_entropy(data: bytes) -> float:
    """Bits per character of ``data`` (0.0 for empty input)."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def high_entropy(value: bytes) -> bool:
    """Whether ``value`` looks random, by the detect-secrets thresholds for its alphabet.

    Hex strings made only of digits get detect-secrets' numeric correction (they are usually
    numbers, ids or dates).
    """
    if len(value) >= 16 and all(c in _HEX_CHARS for c in value):
        entropy = shannon_entropy(value)
        if value.isdigit():
            entropy -= 1.2 / math.log2(len(value))
        return entropy > HEX_ENTROPY_LIMIT
    if len(value) >= 20 and all(c in _B64_CHARS for c in value):
        return shannon_entropy(value) > BASE64_ENTROPY_LIMIT
    return False


_PLACEHOLDER_WORDS = (
    b"xxxx",
    b"****",
    b"your",
    b"placeholder",
    b"dummy",
    b"redacted",
    b"changeme",
    b"change_me",
    b"change-me",
    b"replace",
    b"insert",
    b"todo",
    b"fixme",
    b"sample",
)
_PLACEHOLDER_VALUES = frozenset(
    {
        b"password",
        b"passwd",
        b"pass",
        b"secret",
        b"token",
        b"none",
        b"null",
        b"nil",
        b"true",
        b"false",
        b"empty",
        b"undefined",
        b"test",
        b"testing",
        b"foo",
        b"bar",
        b"foobar",
        b"admin",
        b"root",
        b"default",
        b"required",
        b"optional",
        b"string",
        b"value",
        b"key",
        b"apikey",
        b"api_key",
        b"secret_key",
        b"access_key",
        b"private_key",
        b"mysecret",
        b"mypassword",
        b"s3cr3t",
        b"hidden",
    }
)
_REFERENCE_RE = re.compile(rb"^(?:\$|%\(|%[sd]$|\{\{|\{%|<.*>$|\[.*\]$|@\w+@$|\*+$)|\$\{|\$\(|\{\{")


def is_placeholder(value: bytes) -> bool:
    """Values that stand for a secret rather than being one.

    Words like ``your``/``todo`` only count in low-entropy values: random text contains them by
    chance (about once in ten thousand 40-character tokens), and a random value is not a template.
    """
    low = value.lower()
    if low in _PLACEHOLDER_VALUES or _REFERENCE_RE.search(value):
        return True
    if len(value) >= 8 and len(set(low)) <= 2:  # aaaaaaaa, 00000000, ........
        return True
    return (
        any(w in low for w in _PLACEHOLDER_WORDS) and not high_entropy(value) and shannon_entropy(value) < 4.0
    )


_TOKEN_PLACEHOLDER_MARKS = (b"your-", b"your_", b"<", b"${", b"{{")


def _is_token_placeholder(value: bytes) -> bool:
    """``ghp_xxxx...``, ``xoxb-your-token-here``: a documented format filled with a template."""
    low = value.lower()
    return shannon_entropy(value) < 3.0 or any(m in low for m in _TOKEN_PLACEHOLDER_MARKS)


def _is_example(value: bytes) -> bool:
    return b"example" in value.lower()


# --- rule checks ----------------------------------------------------------------------------------


def _b64decode(text: bytes) -> bytes | None:
    try:
        padded = text + b"=" * (-len(text) % 4)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64url_json(text: bytes) -> object:
    try:
        raw = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None


def _check_gcp(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    return b'"service_account"' in content


def _check_docker_auth(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    decoded = _b64decode(m.group(1))
    if decoded is None:
        return False
    user, sep, password = decoded.partition(b":")
    return bool(sep and user and password)


def _starts_line(content: bytes, pos: int) -> bool:
    """Whether only indentation (spaces, tabs, a YAML list dash) precedes ``pos`` on its line."""
    head = content[max(0, pos - 256) : pos]
    stripped = head.rstrip(b" \t-")
    return stripped.endswith(b"\n") or (not stripped and pos <= 256)


def _check_kubeconfig(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    if not _starts_line(content, m.start()):
        return False  # "token:" must be the key of its line
    return b"kind: config" in lowered and b"users:" in lowered


def _check_jwt(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    header = _b64url_json(m.group(1).split(b".", 1)[0])
    return isinstance(header, dict) and "alg" in header


def _check_azure(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    return content.endswith((b"Account", b"SharedAccess"), 0, m.start())


_URL_PASSWORD_PLACEHOLDERS = frozenset({b"pass", b"password", b"passwd", b"pwd", b"secret", b"x", b"xxx"})
_EXAMPLE_HOSTS = (b"example.com", b"example.org", b"example.net", b"host", b"hostname", b"server", b"domain")


def _check_url(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    password = m.group(2)
    host = m.group(3).lower()
    if password.lower() in _URL_PASSWORD_PLACEHOLDERS or is_placeholder(password):
        return False
    if m.group(1).lower() in (b"user", b"username"):
        return False
    return not any(host == h or host.endswith(b"." + h) for h in _EXAMPLE_HOSTS)


def _check_literal(content: bytes, lowered: bytes, m: re.Match[bytes]) -> bool:
    return not is_placeholder(m.group(1))


# --- the rules ------------------------------------------------------------------------------------

_NA = rb"(?![A-Za-z0-9_])"  # no word character after
_B64_BODY = rb"[A-Za-z0-9+/=]{40,}(?:(?:\r?\n|\\r?\\n)[A-Za-z0-9+/=]{1,200}){0,600}"


def _r(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern)


PRIVATE_KEY_RULE = Rule(
    "IS-SEC-005",
    "Private key",
    Severity.HIGH,
    # Header, optional RFC 1421 headers (Proc-Type/DEK-Info) or PGP armor headers, then a body of
    # at least 40 base64 characters: a bare "-----BEGIN PRIVATE KEY-----" constant in a library
    # (a parser looking for it) is not a key.
    _r(
        rb"-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY(?: BLOCK)?-----"
        rb"(?:\s|\\[rn]){0,8}(?:[A-Za-z-]{2,20}: [^\r\n\\]{0,200}(?:\s|\\[rn]){1,8}){0,6}"
        rb"(" + _B64_BODY + rb")"
    ),
    group=2,
    token_format=False,
)

#: Most specific first: a later rule's match overlapping an earlier one is dropped.
RULES: tuple[Rule, ...] = (
    Rule(
        "IS-SEC-003",
        "GCP service account private key",
        Severity.CRITICAL,
        _r(rb'"private_key"\s*:\s*"-----BEGIN PRIVATE KEY-----(?:\\n)+(' + _B64_BODY + rb")"),
        check=_check_gcp,
        token_format=False,
    ),
    Rule(
        "IS-SEC-014",
        "Kubernetes client key in a kubeconfig",
        Severity.CRITICAL,
        _r(rb"client-key-data:[ \t]*[\"']?([A-Za-z0-9+/=]{40,})"),
        token_format=False,
    ),
    Rule(
        "IS-SEC-015",
        "Kubernetes bearer token in a kubeconfig",
        Severity.CRITICAL,
        _r(rb"token:[ \t]*[\"']?([A-Za-z0-9._~+/=\-]{20,4096})[\"']?[ \t]*(?:\r?\n|$)"),
        check=_check_kubeconfig,
        token_format=False,
    ),
    PRIVATE_KEY_RULE,
    Rule(
        "IS-SEC-006",
        "GitHub token",
        Severity.CRITICAL,
        _r(
            rb"(gh(?<![A-Za-z0-9_]gh)[pousr]_[A-Za-z0-9]{36,251}+"
            rb"|github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{82})" + _NA
        ),
    ),
    Rule(
        "IS-SEC-007",
        "GitLab personal access token",
        Severity.CRITICAL,
        _r(rb"(glpat-(?<![A-Za-z0-9_]glpat-)[A-Za-z0-9_\-]{20,100}+)(?![A-Za-z0-9_\-])"),
    ),
    Rule(
        "IS-SEC-008",
        "Slack token",
        Severity.HIGH,
        _r(rb"(xox(?<![A-Za-z0-9_]xox)[baprs]-[0-9A-Za-z]{1,64}+(?:-[0-9A-Za-z]{1,64}+){1,5}+)" + _NA),
    ),
    Rule(
        "IS-SEC-009",
        "Slack incoming webhook URL",
        Severity.MEDIUM,
        _r(
            rb"https://hooks\.slack\.com/((?:services|workflows)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,12}/[A-Za-z0-9]{20,40})"
        ),
    ),
    Rule(
        "IS-SEC-010",
        "Stripe live secret key",
        Severity.CRITICAL,
        _r(rb"(?<![A-Za-z0-9_])([sr]k_live_[0-9A-Za-z]{24,247})" + _NA),
        keywords=(b"k_live_",),
    ),
    Rule(
        "IS-SEC-011",
        "npm access token",
        Severity.CRITICAL,
        _r(rb"(npm_(?<![A-Za-z0-9_]npm_)[A-Za-z0-9]{36})" + _NA),
    ),
    Rule(
        "IS-SEC-012",
        "PyPI API token",
        Severity.CRITICAL,
        _r(rb"(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})"),
    ),
    Rule(
        "IS-SEC-001",
        "AWS access key ID",
        Severity.HIGH,
        _r(rb"(A(?:KIA|SIA|BIA|CCA)(?<![A-Z0-9]....)[A-Z0-9]{16})(?![A-Z0-9])"),
    ),
    Rule(
        "IS-SEC-004",
        "Azure storage account or Service Bus access key",
        Severity.CRITICAL,
        _r(rb"Key=([A-Za-z0-9+/]{40,86}={0,2})"),
        check=_check_azure,
    ),
    Rule(
        "IS-SEC-013",
        "Registry credentials in a Docker config (auths)",
        Severity.HIGH,
        _r(rb'"auth"\s*:\s*"([A-Za-z0-9+/=]{8,4096})"'),
        check=_check_docker_auth,
        token_format=False,
    ),
    Rule(
        "IS-SEC-020",
        "npm registry credentials in .npmrc",
        Severity.HIGH,
        _r(rb"_(?:authToken|auth|password)[ \t]*=[ \t]*[\"']?([^\s\"']{8,4096})"),
        check=_check_literal,
        token_format=False,
        basenames=(".npmrc", "npmrc"),
    ),
    Rule(
        "IS-SEC-021",
        "Password in a .netrc file",
        Severity.HIGH,
        _r(rb"password[ \t]+(\S{1,4096})"),
        check=_check_literal,
        token_format=False,
        basenames=(".netrc", "_netrc"),
    ),
    Rule(
        "IS-SEC-016",
        "JSON Web Token",
        Severity.MEDIUM,
        _r(
            rb"(eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{8,4096}+\.eyJ[A-Za-z0-9_\-]{8,16384}+\.[A-Za-z0-9_\-]{16,4096}+)"
            rb"(?![A-Za-z0-9_\-])"
        ),
        check=_check_jwt,
        token_format=False,
        contextual=True,
    ),
    Rule(
        "IS-SEC-017",
        "Credentials in a URL",
        Severity.HIGH,
        _r(
            rb"://([^\s:@/\\'\"<>()\[\]{}]{1,64}):([^\s:@/\\'\"<>()\[\]{}]{1,128})"
            rb"@([A-Za-z0-9][A-Za-z0-9.\-]{0,253})"
        ),
        group=2,
        check=_check_url,
        token_format=False,
        contextual=True,
    ),
)

_NEVER = re.compile(b"(?!)")
# The assignment rules run after the others: a recognisable token in the value wins.
AWS_SECRET_RULE = Rule("IS-SEC-002", "AWS secret access key", Severity.CRITICAL, _NEVER)
PASSWORD_RULE = Rule(
    "IS-SEC-018", "Hardcoded password or secret", Severity.MEDIUM, _NEVER, token_format=False, contextual=True
)
ENTROPY_RULE = Rule(
    "IS-SEC-019",
    "High-entropy secret assigned to a secret-like name",
    Severity.HIGH,
    _NEVER,
    token_format=False,
    contextual=True,
)

ALL_RULES: tuple[Rule, ...] = tuple(
    sorted((*RULES, AWS_SECRET_RULE, PASSWORD_RULE, ENTROPY_RULE), key=lambda r: r.id)
)

#: Lowercase needles that may start a secret-like name in an assignment (see is_secret_name).
_ASSIGN_KEYWORDS = (
    b"pass",
    b"pwd",
    b"secret",
    b"token",
    b"credential",
    b"apikey",
    b"api_key",
    b"api-key",
    b"access_key",
    b"accesskey",
    b"private_key",
    b"privatekey",
)
_NAME_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
# Anchored at the start of the name: NAME (optionally quoted), an assignment operator, a value.
_ASSIGN_RE = re.compile(
    rb"([\"']?)([A-Za-z_][A-Za-z0-9_.\-]{0,100})[\"']?[ \t]*(:=|=>|=|:)[ \t]*"
    rb"(?:\"([^\"\r\n]{1,1024})\"|'([^'\r\n]{1,1024})'|([^\s\"'#;,]{1,1024}))"
)
_AWS_SECRET_RE = re.compile(rb"[A-Za-z0-9/+]{40}")
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pword", "passphrase"})
_CODE_SUFFIXES = (
    ".py",
    ".js",
    ".mjs",
    ".cjs",
    ".ts",
    ".go",
    ".java",
    ".kt",
    ".scala",
    ".rb",
    ".php",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cs",
    ".rs",
    ".swift",
    ".pl",
    ".pm",
    ".lua",
    ".groovy",
    ".jsx",
    ".tsx",
    ".vue",
)
#: Third-party package trees: only the token-format rules and private keys run there.
PACKAGE_TREES = ("/site-packages/", "/dist-packages/", "/node_modules/", "/gems/", "/vendor/")


def is_code(path: str) -> bool:
    """Source code, where a bare right-hand side is an expression, not a value."""
    return path.lower().endswith(_CODE_SUFFIXES)


def in_package_tree(path: str) -> bool:
    padded = "/" + path
    return any(tree in padded for tree in PACKAGE_TREES)


_PATH_RE = re.compile(rb"(?:~|\.{1,2})?(?:/[A-Za-z0-9_.@\-]+)+/?")


def _is_path(value: bytes) -> bool:
    """``/run/secrets/db``, ``./key.pem``: where a secret is, not the secret (random text is not a path)."""
    return _PATH_RE.fullmatch(value) is not None and not high_entropy(value.replace(b"/", b""))


def assignment_hit(name: str, value: bytes, start: int, *, quoted: bool, code: bool) -> Hit | None:
    """The finding for ``name = value`` (value at offset ``start``), or None if it is not a secret.

    In source code only quoted literals count, and a token/secret name (not a password) needs a
    high-entropy value: ``TOKEN_BLOCK_BEGIN = "block_begin"`` is a lexer constant.
    """
    if code and not quoted:
        return None
    if not is_secret_name(name):
        return None
    end = start + len(value)
    words = name_words(name)
    if "secret" in words and ("aws" in words or "access" in words) and _AWS_SECRET_RE.fullmatch(value):
        if _is_example(value):
            return Hit(
                AWS_SECRET_RULE, start, end, Severity.LOW, f"{AWS_SECRET_RULE.title} (documentation example)"
            )
        return Hit(AWS_SECRET_RULE, start, end, AWS_SECRET_RULE.severity, AWS_SECRET_RULE.title)
    if is_placeholder(value) or value.startswith((b"file:", b"http", b"-----")) or _is_path(value):
        return None
    if value.lower() == name.lower().encode("ascii", "replace"):
        return None
    if high_entropy(value):
        return Hit(ENTROPY_RULE, start, end, ENTROPY_RULE.severity, ENTROPY_RULE.title)
    password_like = any(w in _PASSWORD_WORDS for w in words)
    if code and not password_like:
        return None
    if len(value) < (6 if password_like else 8):
        return None
    return Hit(PASSWORD_RULE, start, end, PASSWORD_RULE.severity, PASSWORD_RULE.title)


def _assignment_hits(content: bytes, lowered: bytes, code: bool) -> Iterator[Hit]:
    """``name = value`` wherever a secret-like word occurs: line starts, JSON, keyword arguments."""
    tried: set[int] = set()
    for keyword in _ASSIGN_KEYWORDS:
        pos = lowered.find(keyword)
        while pos >= 0:
            head = content[max(0, pos - 100) : pos]
            start = pos - (len(head) - len(head.rstrip(_NAME_BYTES)))
            if start > 0 and content[start - 1] in b"\"'":
                start -= 1
            nxt = pos + len(keyword)
            if start not in tried:
                tried.add(start)
                m = _ASSIGN_RE.match(content, start)
                if m is not None:
                    hit = _assignment_match(content, m, code)
                    if hit is not None:
                        yield hit
                    nxt = max(nxt, m.end())
            pos = lowered.find(keyword, nxt)


def _assignment_match(content: bytes, m: re.Match[bytes], code: bool) -> Hit | None:
    name_quoted, name, op = m.group(1), m.group(2).decode("ascii"), m.group(3)
    before = content[m.start() - 1 : m.start()]
    if before in (b"$", b"@", b"%"):
        code = True  # a Perl/PHP/shell-expansion variable: the right-hand side is an expression
    # "key: value" is YAML only where the key starts its line; elsewhere it is prose ("dpkg: x: y").
    if op == b":" and not name_quoted and not _starts_line(content, m.start()):
        return None
    group = 4 if m.group(4) is not None else 5 if m.group(5) is not None else 6
    return assignment_hit(name, m.group(group), m.start(group), quoted=group != 6, code=code)


_SCRIPT_CODE = (b"perl", b"python", b"ruby", b"node", b"php")


def _is_code_content(path: str, content: bytes) -> bool:
    if is_code(path):
        return True
    if content.startswith(b"#!"):
        first = content[:128].split(b"\n", 1)[0]
        return any(lang in first for lang in _SCRIPT_CODE)
    return False


def _rule_hits(rule: Rule, content: bytes, lowered: bytes) -> Iterator[Hit]:
    for m in rule.pattern.finditer(content):
        if rule.check is not None and not rule.check(content, lowered, m):
            continue
        value = m.group(rule.group)
        severity, title = rule.severity, rule.title
        if rule.token_format:
            if _is_example(value):
                severity, title = Severity.LOW, f"{rule.title} (documentation example)"
            elif _is_token_placeholder(value):
                continue
        if rule is PRIVATE_KEY_RULE:
            kind = m.group(1).decode("ascii").strip()
            title = f"{rule.title} ({kind})" if kind else rule.title
        yield Hit(rule, m.start(rule.group), m.end(rule.group), severity, title)


def find_hits(content: bytes, path: str = "") -> list[Hit]:
    """Every secret in ``content``, most specific rule first, overlapping matches dropped.

    ``path`` (image-root relative) selects per-file rules (``.npmrc``, ``.netrc``), code versus
    configuration syntax, and whether the file is inside a third-party package tree.
    """
    lowered = content.lower()
    base = path.rsplit("/", 1)[-1]
    third_party = in_package_tree(path)
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []

    def add(hit: Hit) -> bool:
        if not any(hit.start < e and s < hit.end for s, e in taken):
            taken.append((hit.start, hit.end))
            hits.append(hit)
        return len(hits) >= MAX_MATCHES_PER_FILE

    for rule in RULES:
        if (rule.contextual and third_party) or (rule.basenames and base not in rule.basenames):
            continue
        if rule.keywords and not any(k in content for k in rule.keywords):
            continue
        for hit in _rule_hits(rule, content, lowered):
            if add(hit):
                return hits
    if not third_party:
        for hit in _assignment_hits(content, lowered, _is_code_content(path, content)):
            if add(hit):
                return hits
    return hits


def to_match(content: bytes, hit: Hit) -> SecretMatch:
    """The redacted, storable form of a hit (line numbers start at 1)."""
    secret = content[hit.start : hit.end].decode("utf-8", "replace")
    line = content.count(b"\n", 0, hit.start) + 1
    return SecretMatch(hit.rule.id, hit.severity, hit.title, line, redact(secret))


def scan_bytes(content: bytes, path: str = "") -> list[SecretMatch]:
    """Secrets in one text (file content or config string), redacted, in order of position."""
    hits = sorted(find_hits(content, path), key=lambda h: h.start)
    return [to_match(content, h) for h in hits]
