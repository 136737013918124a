"""Package-manager rules: caches left in the image, and whole-system upgrades in a build."""

from __future__ import annotations

from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, Instruction
from imgsec.lint.rules.common import PkgOp, all_runs, commands, final_runs, hit, package_ops

GROUP = "packages"


def _cache_mounted(instr: Instruction, *paths: str) -> bool:
    for mount in instr.mounts:
        if mount.get("type") in ("cache", "tmpfs"):
            target = mount.get("target") or mount.get("dst") or mount.get("destination") or ""
            if any(target.rstrip("/") == p or p.startswith(target.rstrip("/") + "/") for p in paths):
                return True
    return False


def _removes(instr: Instruction, prefix: str) -> bool:
    """A ``rm`` in this RUN deletes ``prefix`` (or everything under it)."""
    for cmd in commands(instr):
        if cmd.name == "rm" and any(w.rstrip("/*").startswith(prefix.rstrip("/")) for w in cmd.words()):
            return True
    return False


def check_apt_cleanup(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in final_runs(df):
        ops = [op for op in package_ops(instr) if op.manager == "apt"]
        if not any(op.action == "install" for op in ops):
            continue
        if _removes(instr, "/var/lib/apt/lists") or _cache_mounted(instr, "/var/lib/apt/lists"):
            continue
        yield hit(instr, "apt-get install without rm -rf /var/lib/apt/lists/* in the same RUN")


def check_apk_cache(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in final_runs(df):
        for op in package_ops(instr):
            if op.manager != "apk" or op.action != "add" or "--no-cache" in op.options:
                continue
            if _removes(instr, "/var/cache/apk") or _cache_mounted(instr, "/var/cache/apk"):
                continue
            cleaned = any(
                o.manager == "apk" and o.action == "cache" and "clean" in o.packages
                for o in package_ops(instr)
            )
            if not cleaned:
                yield hit(instr, "apk add without --no-cache leaves the package index in the image")
                break


_CACHE_DIRS = {
    "yum": "/var/cache/yum",
    "dnf": "/var/cache/dnf",
    "microdnf": "/var/cache/yum",
    "tdnf": "/var/cache/tdnf",
}


def _rpm_cleaned(instr: Instruction, op: PkgOp) -> bool:
    for other in package_ops(instr):
        if (
            other.manager == op.manager
            and other.action in ("clean", "cc")
            and ("all" in other.packages or other.manager == "zypper" or "packages" in other.packages)
        ):
            return True
    cache = "/var/cache/zypp" if op.manager == "zypper" else _CACHE_DIRS.get(op.tool, "/var/cache/yum")
    return _removes(instr, cache) or _cache_mounted(instr, cache)


def check_rpm_cleanup(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in final_runs(df):
        for op in package_ops(instr):
            if op.manager not in ("yum", "zypper") or op.action not in ("install", "in", "groupinstall"):
                continue
            if not _rpm_cleaned(instr, op):
                clean = "zypper clean" if op.manager == "zypper" else f"{op.tool} clean all"
                yield hit(instr, f"{op.tool} install without {clean} in the same RUN")
                break


_UPGRADES = {
    "apt": frozenset({"upgrade", "dist-upgrade", "full-upgrade"}),
    "apk": frozenset({"upgrade"}),
    "yum": frozenset({"update", "upgrade", "distro-sync"}),
    "zypper": frozenset({"update", "up", "dist-upgrade", "dup"}),
}


def check_upgrade(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for _stage, instr in all_runs(df):
        for op in package_ops(instr):
            # "yum update pkg" updates named packages; only a whole-system upgrade is flagged.
            if op.action in _UPGRADES[op.manager] and (not op.packages or op.manager == "apt"):
                yield hit(instr, f"{op.tool} {op.action} upgrades the whole base image inside the build")
                break


RULES = (
    Rule(
        "IS-DF-050",
        "apt-lists-not-removed",
        Severity.LOW,
        "apt-get install without removing /var/lib/apt/lists in the same RUN",
        "End the RUN with && rm -rf /var/lib/apt/lists/* (or use a cache mount).",
        GROUP,
        check_apt_cleanup,
        hadolint=("DL3009",),
    ),
    Rule(
        "IS-DF-051",
        "apk-cache-kept",
        Severity.LOW,
        "apk add without --no-cache",
        "Use apk add --no-cache.",
        GROUP,
        check_apk_cache,
        hadolint=("DL3019",),
    ),
    Rule(
        "IS-DF-052",
        "rpm-cache-kept",
        Severity.LOW,
        "yum/dnf/microdnf/zypper install without cleaning the cache in the same RUN",
        "End the RUN with && yum clean all (dnf clean all, microdnf clean all, zypper clean).",
        GROUP,
        check_rpm_cleanup,
        hadolint=("DL3032", "DL3040", "DL3036"),
    ),
    Rule(
        "IS-DF-053",
        "package-upgrade",
        Severity.LOW,
        "Whole-system package upgrade inside the build",
        "Rebuild on a newer base image tag (and pin its digest) instead of upgrading in a layer.",
        GROUP,
        check_upgrade,
    ),
)
