"""User rules: the image must not run as root (numeric, named, inherited from earlier stages)."""

from __future__ import annotations

from collections.abc import Iterator

from imgsec.lint.config import LintConfig
from imgsec.lint.images import known_non_root
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, Instruction, expand
from imgsec.lint.rules.common import commands, hit, package_name, package_ops

GROUP = "user"

#: Tools an entrypoint uses to drop from root to another user after start-up (official postgres, redis...).
PRIVILEGE_DROPPERS = frozenset(
    {"gosu", "su-exec", "setpriv", "runuser", "s6-setuidgid", "chpst", "setuidgid"}
)
ROOT_NAMES = frozenset({"root", "0"})


def last_user(df: Dockerfile) -> tuple[Instruction, str | None] | None:
    """The last ``USER`` in effect in the final image and its value (None when it cannot be resolved)."""
    found: tuple[Instruction, str | None] | None = None
    for stage in reversed(df.final_chain):
        for instr in stage.instructions:
            if instr.keyword == "USER" and instr.args:
                value, _ = expand(instr.args[0], df.variables(stage, instr))
                found = (instr, value)
    return found


def drops_privileges(df: Dockerfile) -> bool:
    """The final image installs or calls gosu/su-exec/setpriv..., so starting as root is deliberate."""
    for stage in df.final_chain:
        for instr in stage.instructions:
            if instr.keyword in ("ENTRYPOINT", "CMD", "RUN"):
                if instr.keyword != "RUN" and any(c.name in PRIVILEGE_DROPPERS for c in commands(instr)):
                    return True
                if instr.keyword == "RUN" and (
                    any(
                        package_name(p) in PRIVILEGE_DROPPERS
                        for op in package_ops(instr)
                        for p in op.packages
                    )
                    # downloaded and installed by hand: wget -O /usr/local/bin/gosu ...; chmod +x .../gosu
                    or any(
                        a.rsplit("/", 1)[-1] in PRIVILEGE_DROPPERS for c in commands(instr) for a in c.argv
                    )
                ):
                    return True
            elif instr.keyword in ("COPY", "ADD") and any(
                any(d in src.lower() for d in PRIVILEGE_DROPPERS) for src in instr.args[:-1]
            ):
                return True
    return False


def is_root(user: str) -> bool:
    return user.split(":", 1)[0].strip().lower() in ROOT_NAMES


def check_root_user(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    found = last_user(df)
    if found is None:
        return
    instr, value = found
    if value is not None and is_root(value) and not drops_privileges(df):
        yield hit(instr, f"the image runs as {value!r} (root)")


def check_missing_user(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    if last_user(df) is not None:
        return
    root = df.root_image(df.final_stage)
    if root.base_ref is not None and known_non_root(root.base_ref):
        return
    if root.base is None or drops_privileges(df):
        return
    yield hit(
        df.final_stage.from_instruction, "no USER in the final image, so it runs as the base image's user"
    )


RULES = (
    Rule(
        "IS-DF-020",
        "root-user",
        Severity.HIGH,
        "Last USER is root",
        "Create an unprivileged user (RUN useradd -r -u 10001 app) and end with USER 10001.",
        GROUP,
        check_root_user,
        hadolint=("DL3002",),
    ),
    Rule(
        "IS-DF-021",
        "missing-user",
        Severity.MEDIUM,
        "No USER instruction: the container runs as root unless the base image says otherwise",
        "Add USER with a non-root numeric UID (USER 10001) at the end of the final stage.",
        GROUP,
        check_missing_user,
    ),
)
