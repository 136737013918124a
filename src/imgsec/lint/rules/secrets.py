"""Secret rules: secrets baked into ENV/ARG/LABEL, secret files copied in, secrets consumed without a mount."""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, Instruction, arg_decls, key_values
from imgsec.lint.rules.common import hit

GROUP = "secrets"

# Words that make a variable name secret-like (after splitting on _ - . and camelCase), as Docker's own
# SecretsUsedInArgOrEnv build check does; and words that say the value is only about a secret.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pword",
        "secret",
        "token",
        "apikey",
        "credential",
        "credentials",
        "passphrase",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("auth", "token"),
        ("client", "secret"),
    }
)
_NOT_SECRET_WORDS = frozenset(
    {
        "file",
        "path",
        "dir",
        "url",
        "uri",
        "host",
        "port",
        "user",
        "username",
        "name",
        "id",
        "type",
        "length",
        "min",
        "max",
        "enabled",
        "mode",
        "method",
        "endpoint",
        "header",
        "public",
        "expiry",
        "ttl",
        "timeout",
        "policy",
        "hash",
        "algorithm",
        "env",
    }
)
#: Recognisable credentials, by value.
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key ID", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{60,}")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Stripe live key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}")),
    ("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("credentials in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]+@[^\s]+", re.I)),
)
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_VAR_REF_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\-.\s/]+", _CAMEL_RE.sub("_", name).lower()) if w]


def is_secret_name(name: str) -> bool:
    """``DB_PASSWORD``, ``githubToken``, ``AWS_SECRET_ACCESS_KEY`` yes; ``PASSWORD_FILE``, ``TOKEN_URL`` no."""
    words = name_words(name)
    if not words or words[-1] in _NOT_SECRET_WORDS:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any((a, b) in _SECRET_PAIRS for a, b in itertools.pairwise(words))


def recognisable_token(value: str) -> str | None:
    for label, pattern in TOKEN_PATTERNS:
        if pattern.search(value):
            return label
    return None


def redact(value: str) -> str:
    return value[:3] + "…" if len(value) > 6 else "…"


def _pairs(instr: Instruction) -> list[tuple[str, str | None]]:
    if instr.keyword == "ARG":
        return arg_decls(instr)
    return [(k, v) for k, v in key_values(instr)]


def check_secret_values(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for instr in df.instructions:
        if instr.keyword not in ("ENV", "ARG", "LABEL"):
            continue
        for key, value in _pairs(instr):
            token = recognisable_token(value) if value else None
            if token is not None:
                yield Hit(
                    instr.start_line,
                    instr.end_line,
                    f"{instr.keyword} {key} holds a {token} ({redact(value or '')})",
                    severity=Severity.CRITICAL,
                )
            elif is_secret_name(key) and (instr.keyword == "ARG" or value):
                where = "build history" if instr.keyword == "ARG" else "image config"
                yield hit(instr, f"{instr.keyword} {key} looks like a secret and is kept in the {where}")


_SECRET_FILE_GLOBS = (
    ".env",
    ".env.*",
    "*.env",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".htpasswd",
    ".dockercfg",
    "kubeconfig",
    "*.kubeconfig",
    "credentials.json",
)
_SECRET_DIRS = frozenset({".ssh", ".aws", ".kube", ".docker", ".gnupg"})
_SAFE_SUFFIXES = (".example", ".sample", ".template", ".dist", ".tmpl", ".pub")
# Public certificates share the .pem suffix with keys; these names are certificates, not secrets.
_PUBLIC_PEM_WORDS = ("cert", "chain", "bundle", "ca.pem", "pub")


def secret_file(path: str) -> str | None:
    """Why ``path`` looks like a secret file (the matching pattern), or None."""
    parts = [p for p in path.replace("\\", "/").lower().split("/") if p and p != "."]
    if not parts:
        return None
    for part in parts:
        if part in _SECRET_DIRS:
            return part
    base = parts[-1]
    if base.endswith(_SAFE_SUFFIXES):
        return None
    for glob in _SECRET_FILE_GLOBS:
        if fnmatch.fnmatchcase(base, glob):
            if glob == "*.pem" and any(w in base for w in _PUBLIC_PEM_WORDS):
                return None
            return glob
    return None


def _sources_and_dest(instr: Instruction) -> tuple[list[str], str]:
    args = [a for a in instr.args if not a.startswith("<<")]
    if instr.json:
        args = list(instr.args)
    if not args:
        return [], ""
    if instr.heredocs and not instr.json:
        return [], args[-1]
    return args[:-1], args[-1]


def check_secret_files(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for instr in df.instructions:
        if instr.keyword not in ("COPY", "ADD"):
            continue
        sources, dest = _sources_and_dest(instr)
        for src in sources:
            why = secret_file(src)
            if why is not None:
                yield hit(instr, f"{instr.keyword} {src} copies a secret-looking file ({why}) into a layer")
        why = secret_file(dest) if dest and not dest.endswith("/") else None
        if why is not None:
            yield hit(instr, f"{instr.keyword} writes {dest}, a secret-looking file ({why}), into a layer")


_CONSUME_PATTERNS = (
    re.compile(r"_authToken\s*=\s*[^$\s\"']", re.I),
    re.compile(r"\b(?:docker|podman|buildah|helm|skopeo)\s+login\b[^\n;&|]*\s(?:-p|--password)[\s=]", re.I),
)


def check_secret_consumed(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage in df.stages:
        secret_vars = {
            key
            for instr in stage.instructions
            if instr.keyword in ("ARG", "ENV")
            for key, _ in _pairs(instr)
            if is_secret_name(key)
        }
        for instr in stage.instructions:
            if instr.keyword != "RUN" or any(m.get("type") == "secret" for m in instr.mounts):
                continue
            script = instr.shell_script
            used = [v for v in dict.fromkeys(_VAR_REF_RE.findall(script)) if v in secret_vars]
            if used:
                yield hit(
                    instr,
                    f"RUN reads ${used[0]} from a build argument or ENV; "
                    f"use RUN --mount=type=secret,id={used[0].lower()},env={used[0]}",
                )
            elif any(p.search(script) for p in _CONSUME_PATTERNS):
                yield hit(instr, "RUN writes or passes a credential inline; use RUN --mount=type=secret")


RULES = (
    Rule(
        "IS-DF-030",
        "secret-in-env-arg-label",
        Severity.HIGH,
        "Secret in ENV, ARG or LABEL (kept in the image config or build history)",
        "Remove it from the Dockerfile, rotate it, and pass it with RUN --mount=type=secret at build time.",
        GROUP,
        check_secret_values,
    ),
    Rule(
        "IS-DF-031",
        "secret-file-copied",
        Severity.HIGH,
        "COPY/ADD of a secret-looking file (.env, id_rsa, *.pem, .npmrc, .aws/credentials, kubeconfig...)",
        "Exclude it in .dockerignore and mount it only where needed: RUN --mount=type=secret,id=...",
        GROUP,
        check_secret_files,
    ),
    Rule(
        "IS-DF-032",
        "secret-without-secret-mount",
        Severity.MEDIUM,
        "RUN consumes a secret without RUN --mount=type=secret",
        "Pass the secret with docker build --secret id=NAME and RUN --mount=type=secret,id=NAME,env=VAR.",
        GROUP,
        check_secret_consumed,
    ),
)
