"""Remote-content rules: ADD from URLs, ADD where COPY is meant, and piping downloads into a shell."""

from __future__ import annotations

import re
from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import SHELLS, Dockerfile, Instruction
from imgsec.lint.rules.common import all_runs, commands, hit

GROUP = "remote-content"

_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_GIT_RE = re.compile(r"^(?:git@[^:]+:|[a-z+]+://[^#]+\.git(?:[#?].*)?$|git://)", re.I)
#: Local sources ADD auto-extracts (so ADD, not COPY, is the right instruction for them).
ARCHIVE_SUFFIXES = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tbz2",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
)
DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c"})
INTERPRETERS = SHELLS | {"python", "python3", "perl", "ruby", "node", "php", "pwsh"}
_SUBST_RE = re.compile(r"(?:\$\(|`|<\()\s*(?:curl|wget)\b")


def add_sources(instr: Instruction) -> list[str]:
    if instr.heredocs and not instr.json:
        return []
    args = list(instr.args)
    return args[:-1] if len(args) > 1 else []


def is_remote(src: str) -> bool:
    return bool(_URL_RE.match(src) or _GIT_RE.match(src))


def check_add_remote(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for instr in df.instructions:
        if instr.keyword != "ADD":
            continue
        for src in add_sources(instr):
            if _GIT_RE.match(src):
                if instr.flag("checksum") is None:
                    yield hit(instr, f"ADD fetches the git repository {src} at build time, unverified")
            elif _URL_RE.match(src) and instr.flag("checksum") is None:
                kind = "a remote archive" if src.lower().split("?")[0].endswith(ARCHIVE_SUFFIXES) else "a URL"
                yield hit(instr, f"ADD downloads {kind} ({src}) without --checksum")


def check_add_instead_of_copy(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for instr in df.instructions:
        if instr.keyword != "ADD":
            continue
        local = [s for s in add_sources(instr) if not is_remote(s)]
        plain = [s for s in local if not s.lower().endswith(ARCHIVE_SUFFIXES)]
        if plain and len(plain) == len(local) and not any(s.startswith("$") for s in plain):
            yield hit(instr, f"ADD {' '.join(plain)} copies local files; COPY says exactly that")


def check_pipe_to_shell(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in all_runs(df):
        cmds = commands(instr)
        found: str | None = None
        downloads: dict[int, str] = {}
        for cmd in cmds:
            if cmd.name in DOWNLOADERS:
                downloads.setdefault(cmd.pipeline, cmd.name)
            elif cmd.pipe_index > 0 and cmd.pipeline in downloads and cmd.name in INTERPRETERS:
                found = f"{downloads[cmd.pipeline]} ... | {cmd.name}"
                break
            elif cmd.name in SHELLS | {"eval"} and any(_SUBST_RE.search(a) for a in cmd.args):
                found = f"{cmd.name} running the output of a download"
                break
        if found is None and re.search(r"\b(?:ba|z|k|da)?sh\s+<\(\s*(?:curl|wget)\b", instr.shell_script):
            found = "shell reading a download through process substitution"
        if found is not None:
            yield hit(instr, f"RUN pipes a download straight into an interpreter ({found})")


RULES = (
    Rule(
        "IS-DF-040",
        "add-remote-url",
        Severity.MEDIUM,
        "ADD from a URL or git repository without a checksum",
        "Use ADD --checksum=sha256:... for URLs, or RUN curl -fsSLO URL && sha256sum -c, or COPY from a stage.",
        GROUP,
        check_add_remote,
    ),
    Rule(
        "IS-DF-041",
        "add-instead-of-copy",
        Severity.LOW,
        "ADD used for local files that are not archives",
        "Use COPY; keep ADD for local tar archives that must be extracted.",
        GROUP,
        check_add_instead_of_copy,
        hadolint=("DL3020",),
    ),
    Rule(
        "IS-DF-042",
        "pipe-download-to-shell",
        Severity.HIGH,
        "Download piped into a shell (curl ... | sh)",
        "Download to a file, verify its checksum or signature, then run it.",
        GROUP,
        check_pipe_to_shell,
    ),
)
