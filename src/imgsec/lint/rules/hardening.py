"""Hardening rules: sudo, world-writable permissions, SSH."""

from __future__ import annotations

import re
from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, expand
from imgsec.lint.rules.common import all_runs, commands, hit

GROUP = "hardening"

_SYMBOLIC_RE = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")


def world_writable(mode: str) -> bool:
    """``777``, ``0666``, ``o+w``, ``a=rwx``: others get write permission.

    Sticky directories (``1777``, ``+t``) are exempt: that is how ``/tmp`` is meant to be.
    """
    if re.fullmatch(r"[0-7]{1,4}", mode):
        sticky = len(mode) == 4 and bool(int(mode[0]) & 1)
        return bool(int(mode[-1]) & 2) and not sticky
    if "t" in mode:
        return False
    for clause in mode.split(","):
        m = _SYMBOLIC_RE.match(clause)
        if m and m.group(2) in "+=" and "w" in m.group(3) and ("o" in m.group(1) or "a" in m.group(1)):
            return True
    return False


def check_sudo(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in all_runs(df):
        if any(c.name == "sudo" or "sudo" in c.wrappers for c in commands(instr)):
            yield hit(instr, "RUN uses sudo")


def check_chmod(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage in df.stages:
        for instr in stage.instructions:
            if instr.keyword == "RUN":
                for cmd in commands(instr):
                    words = cmd.words()
                    if cmd.name == "chmod" and words and world_writable(words[0]):
                        yield hit(instr, f"chmod {words[0]} makes files world-writable")
                        break
            elif instr.keyword in ("COPY", "ADD"):
                mode = instr.flag("chmod")
                if mode and world_writable(mode):
                    yield hit(instr, f"{instr.keyword} --chmod={mode} makes files world-writable")


def _ports(spec: str) -> range:
    port = spec.split("/", 1)[0]
    low, _, high = port.partition("-")
    try:
        return range(int(low), int(high or low) + 1)
    except ValueError:
        return range(0)


def check_ssh(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage in df.final_chain:
        for instr in stage.instructions:
            if instr.keyword != "EXPOSE":
                continue
            variables = df.variables(stage, instr)
            for spec in instr.args:
                value, _ = expand(spec, variables)
                if value is not None and 22 in _ports(value):
                    yield hit(instr, f"EXPOSE {spec} opens SSH")


RULES = (
    Rule(
        "IS-DF-060",
        "sudo",
        Severity.MEDIUM,
        "sudo in RUN",
        "RUN already runs as the current USER; switch with USER root / USER app around the step instead.",
        GROUP,
        check_sudo,
        hadolint=("DL3004",),
    ),
    Rule(
        "IS-DF-061",
        "world-writable",
        Severity.MEDIUM,
        "chmod or --chmod makes files world-writable (777, o+w)",
        "Grant write access to the owning user or group only (chmod 755/750, chown app).",
        GROUP,
        check_chmod,
    ),
    Rule(
        "IS-DF-062",
        "expose-ssh",
        Severity.MEDIUM,
        "EXPOSE 22: the image runs an SSH server",
        "Do not run sshd in a container; use kubectl exec / docker exec for access.",
        GROUP,
        check_ssh,
    ),
)
