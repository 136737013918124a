"""Build-structure rules: toolchains must not ship; compiling belongs in a build stage."""

from __future__ import annotations

from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.images import toolchain_replacement
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, Stage
from imgsec.lint.rules.common import commands, hit, package_name, package_ops, runs
from imgsec.lint.shell import SimpleCommand

GROUP = "build-stages"

BUILD_TOOL_PACKAGES = frozenset(
    {
        "gcc",
        "g++",
        "gcc-c++",
        "clang",
        "llvm",
        "make",
        "cmake",
        "ninja-build",
        "build-essential",
        "build-base",
        "alpine-sdk",
        "autoconf",
        "automake",
        "libtool",
        "golang",
        "golang-go",
        "go",
        "rustc",
        "cargo",
        "maven",
        "gradle",
        "default-jdk",
        "default-jdk-headless",
    }
)
_COMPILERS = frozenset(
    {
        "gcc",
        "g++",
        "cc",
        "c++",
        "clang",
        "clang++",
        "javac",
        "rustc",
        "make",
        "ninja",
        "mvn",
        "mvnw",
        "gradle",
    }
    | {"gradlew", "configure", "msbuild", "tsc"}
)
_SUBCOMMAND_BUILDS = {
    "go": frozenset({"build", "install"}),
    "cargo": frozenset({"build", "install"}),
    "dotnet": frozenset({"build", "publish"}),
    "cmake": frozenset({"--build"}),
}


def is_build_tool(pkg: str) -> bool:
    name = package_name(pkg)
    if name in BUILD_TOOL_PACKAGES:
        return True
    if name.endswith(("-dev", "-devel")) or name.startswith(("gcc-", "g++-", "clang-")):
        return True
    return name.startswith("openjdk") and "jre" not in name


def compile_command(cmd: SimpleCommand) -> str | None:
    """The compile step ``cmd`` performs (``go build``), or None."""
    name = cmd.name
    if name in _COMPILERS:
        return name
    builds = _SUBCOMMAND_BUILDS.get(name)
    if builds is not None:
        sub = next((a for a in cmd.args if not a.startswith("-") or a in builds), None)
        if sub in builds:
            return f"{name} {sub}"
    if name in ("npm", "yarn", "pnpm"):
        words = cmd.words()
        if words[:2] == ["run", "build"] or words[:1] == ["build"]:
            return f"{name} {' '.join(words[:2])}"
    return None


def _build_tools_left(stage: Stage) -> list[tuple[int, int, list[str]]]:
    """Build tools installed in ``stage`` and never removed in it: (start, end line, packages)."""
    installed: list[tuple[int, int, str, str | None]] = []
    removed: set[str] = set()
    for instr in runs(stage):
        for op in package_ops(instr):
            if op.action in ("install", "add", "in", "groupinstall"):
                installed.extend(
                    (instr.start_line, instr.end_line, package_name(p), op.virtual)
                    for p in op.packages
                    if is_build_tool(p)
                )
            elif op.action in ("remove", "purge", "del", "erase", "rm"):
                removed.update(package_name(p) for p in op.packages)
    left: dict[tuple[int, int], list[str]] = {}
    for start, end, pkg, virtual in installed:
        if pkg in removed or (virtual is not None and virtual.lower() in removed):
            continue
        left.setdefault((start, end), []).append(pkg)
    return [(s, e, pkgs) for (s, e), pkgs in left.items()]


def check_build_tools_in_final(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    if not df.is_multi_stage:
        return
    root = df.root_image(df.final_stage)
    if root.base_ref is not None:
        replacement = toolchain_replacement(root.base_ref)
        if replacement is not None:
            yield hit(
                df.final_stage.from_instruction,
                f"final stage runs on the {root.base_ref.familiar_name} toolchain image; ship {replacement}",
            )
    for stage in df.final_chain:
        for start, end, pkgs in _build_tools_left(stage):
            yield Hit(
                start, end, f"final stage installs build tools {', '.join(sorted(set(pkgs)))} and keeps them"
            )


def check_single_stage_compile(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    if df.is_multi_stage:
        return
    for instr in runs(df.final_stage):
        steps = [c for c in (compile_command(cmd) for cmd in commands(instr)) if c is not None]
        if steps:
            yield hit(
                instr, f"single-stage build compiles ({', '.join(dict.fromkeys(steps))}); compilers ship"
            )


RULES = (
    Rule(
        "IS-DF-010",
        "build-tools-in-final-stage",
        Severity.MEDIUM,
        "Build tools or a toolchain image left in the final stage of a multi-stage build",
        "Install compilers and -dev packages only in the build stage; COPY --from it the artefacts alone.",
        GROUP,
        check_build_tools_in_final,
    ),
    Rule(
        "IS-DF-011",
        "single-stage-compile",
        Severity.MEDIUM,
        "Single-stage build that compiles, so the toolchain ships in the image",
        "Split into a build stage (FROM toolchain AS build) and a minimal final stage that copies the output.",
        GROUP,
        check_single_stage_compile,
    ),
)
