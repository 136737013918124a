"""Helpers shared by rule modules: RUN commands per stage, package-manager operations, hits."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from imgsec.lint.model import Hit
from imgsec.lint.parse import Dockerfile, Instruction, Stage
from imgsec.lint.shell import SimpleCommand, split_commands


def hit(instr: Instruction, detail: str) -> Hit:
    return Hit(line=instr.start_line, end_line=instr.end_line, detail=detail)


@functools.lru_cache(maxsize=4096)
def _commands(script: str) -> tuple[SimpleCommand, ...]:
    return tuple(split_commands(script))


def commands(instr: Instruction) -> tuple[SimpleCommand, ...]:
    """The simple commands a RUN executes (cached: several rules ask for the same RUN)."""
    return _commands(instr.shell_script)


def runs(stage: Stage) -> Iterator[Instruction]:
    for instr in stage.instructions:
        if instr.keyword == "RUN":
            yield instr


def all_runs(df: Dockerfile) -> Iterator[tuple[Stage, Instruction]]:
    for stage in df.stages:
        for instr in runs(stage):
            yield stage, instr


def final_runs(df: Dockerfile) -> Iterator[tuple[Stage, Instruction]]:
    """RUNs of the stages whose filesystem ends up in the final image (final stage and its FROM-ancestors)."""
    for stage in reversed(df.final_chain):
        for instr in runs(stage):
            yield stage, instr


_APT = frozenset({"apt-get", "apt", "aptitude"})
_YUM = frozenset({"yum", "dnf", "microdnf", "tdnf"})
_ACTIONS: dict[str, frozenset[str]] = {
    "apt": frozenset(
        {
            "install",
            "update",
            "upgrade",
            "dist-upgrade",
            "full-upgrade",
            "remove",
            "purge",
            "autoremove",
            "clean",
        }
    ),
    "apk": frozenset({"add", "del", "update", "upgrade", "cache", "fix"}),
    "yum": frozenset(
        {
            "install",
            "update",
            "upgrade",
            "remove",
            "erase",
            "clean",
            "distro-sync",
            "makecache",
            "groupinstall",
            "reinstall",
            "autoremove",
        }
    ),
    "zypper": frozenset(
        {
            "install",
            "in",
            "update",
            "up",
            "dist-upgrade",
            "dup",
            "clean",
            "cc",
            "remove",
            "rm",
            "refresh",
            "ref",
        }
    ),
}
# Options that take a separate argument, per manager (their argument is not a package).
_OPTS_WITH_ARG: dict[str, frozenset[str]] = {
    "apt": frozenset({"-o", "-t", "-c", "--option", "--target-release", "--config-file"}),
    "apk": frozenset({"-t", "--virtual", "-X", "--repository", "-p", "--root", "--arch", "--cache-dir"}),
    "yum": frozenset({"-c", "--config", "--installroot", "--releasever", "-R", "--setopt", "--repo"}),
    "zypper": frozenset({"-r", "--repo", "-t", "--type", "--from"}),
}


@dataclass(frozen=True)
class PkgOp:
    """``apt-get install -y gcc`` as manager ``apt``, tool ``apt-get``, action ``install``, packages ``(gcc,)``."""

    manager: str
    tool: str
    action: str
    packages: tuple[str, ...]
    options: tuple[str, ...]
    virtual: str | None = None


def package_op(cmd: SimpleCommand) -> PkgOp | None:
    """Recognise a package-manager command; None for anything else."""
    name = cmd.name
    if name in _APT:
        manager = "apt"
    elif name == "apk":
        manager = "apk"
    elif name in _YUM:
        manager = "yum"
    elif name == "zypper":
        manager = "zypper"
    else:
        return None
    action: str | None = None
    packages: list[str] = []
    options: list[str] = []
    virtual: str | None = None
    args = list(cmd.args)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            options.append(arg)
            if arg in _OPTS_WITH_ARG[manager] and "=" not in arg and i + 1 < len(args):
                if manager == "apk" and arg in ("-t", "--virtual"):
                    virtual = args[i + 1]
                i += 1
            elif manager == "apk" and arg.startswith("--virtual="):
                virtual = arg.split("=", 1)[1]
        elif action is None:
            if arg not in _ACTIONS[manager]:
                return None
            action = arg
        else:
            packages.append(arg)
        i += 1
    if action is None:
        return None
    return PkgOp(manager, name, action, tuple(packages), tuple(options), virtual)


@functools.lru_cache(maxsize=4096)
def _package_ops(script: str) -> tuple[PkgOp, ...]:
    return tuple(op for op in (package_op(cmd) for cmd in _commands(script)) if op is not None)


def package_ops(instr: Instruction) -> tuple[PkgOp, ...]:
    """The package-manager commands a RUN executes (cached per script)."""
    return _package_ops(instr.shell_script) if instr.keyword == "RUN" else ()


def package_name(spec: str) -> str:
    """``gcc=4:12.2.0-3`` / ``gcc~=12`` / ``python3-dev>=3`` -> the bare package name."""
    for sep in ("=", "<", ">", "~"):
        spec = spec.split(sep, 1)[0]
    return spec.lower()
