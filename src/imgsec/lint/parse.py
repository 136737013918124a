"""Read and parse a Dockerfile with BuildKit's own parser, then resolve stages as a real build does.

The ``dockerfile`` package wraps BuildKit's Go parser (``moby/buildkit/frontend/dockerfile/parser``):
escape directives, line continuations, heredocs and comments inside continuations behave as in
``docker build``.  On top of it this module does what BuildKit's ``instructions`` package does before a
build: ``ARG`` defaults before the first ``FROM`` are substituted into ``FROM``, stage names are matched
(case-insensitively, as BuildKit lower-cases them) and each stage knows the stage it is built from.

Every file is hostile: size is capped, NUL bytes and invalid UTF-8 are refused before the Go parser sees
them (it reads C strings and aborts the process on strings it cannot encode).
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile as _bk

from imgsec.errors import InputError, InvalidReferenceError
from imgsec.reference import Reference, parse_reference

MAX_DOCKERFILE_BYTES = 1024 * 1024

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"})

_STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9._-]*$")
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_IGNORE_RE = re.compile(
    r"^\s*#\s*(imgsec|hadolint)\s+(global\s+)?ignore\s*=\s*([A-Za-z0-9_,\s-]+?)\s*$", re.I
)
_HEREDOC_MARKER_RE = re.compile(r"<<-?\s*([\"']?)([A-Za-z0-9_.-]+)\1")


class DockerfileError(InputError):
    """A file that is not a Dockerfile a build would accept (or that is hostile)."""


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str


@dataclass(frozen=True)
class Instruction:
    """One instruction as BuildKit parsed it; ``keyword`` is upper-case, lines are 1-based."""

    keyword: str
    args: tuple[str, ...]
    flags: tuple[str, ...]
    original: str
    start_line: int
    end_line: int
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    onbuild_keyword: str | None = None

    def flag(self, name: str) -> str | None:
        """Value of ``--name=value`` (last one wins), ``""`` for a bare ``--name``, None if absent."""
        values = self.flag_values(name)
        return values[-1] if values else None

    def flag_values(self, name: str) -> list[str]:
        out: list[str] = []
        prefix = f"--{name}".lower()
        for f in self.flags:
            low = f.lower()
            if low == prefix:
                out.append("")
            elif low.startswith(prefix + "="):
                out.append(f[len(prefix) + 1 :])
        return out

    @functools.cached_property
    def mounts(self) -> list[dict[str, str]]:
        """``RUN --mount=type=secret,id=x`` as ``[{"type": "secret", "id": "x"}]``."""
        out = []
        for spec in self.flag_values("mount"):
            fields: dict[str, str] = {}
            for part in spec.split(","):
                key, sep, value = part.partition("=")
                fields[key.strip().lower()] = value.strip() if sep else "true"
            fields.setdefault("type", "bind")
            out.append(fields)
        return out

    @functools.cached_property
    def shell_script(self) -> str:
        """The shell text a ``RUN`` (or shell-form ``CMD``/``ENTRYPOINT``) executes, heredoc scripts included.

        Exec form is re-quoted so that shell splitting gives back the same argv.  A heredoc is part of the
        script when it is fed to a shell (``RUN <<EOF`` or ``RUN bash <<EOF``), not when it is data
        (``RUN cat <<EOF > /etc/file``).
        """
        if self.json:
            return " ".join(shlex.quote(a) for a in self.args)
        text = " ".join(self.args)
        if not self.heredocs:
            return text
        rest = _HEREDOC_MARKER_RE.sub(" ", text).split()
        scripts = [text if rest else ""]
        if not rest or rest[0].rsplit("/", 1)[-1] in SHELLS:
            scripts.extend(h.content.replace("\\\n", "") for h in self.heredocs)
        return "\n".join(scripts)


@dataclass(frozen=True)
class Stage:
    """One build stage: its ``FROM``, how its base resolved, and its instructions (``FROM`` excluded)."""

    index: int
    name: str | None
    from_instruction: Instruction
    base_text: str
    #: The base after ``ARG`` substitution, None when a variable has no value at lint time.
    base: str | None
    base_ref: Reference | None
    base_stage: int | None
    instructions: tuple[Instruction, ...]
    unresolved: tuple[str, ...] = ()

    @property
    def is_scratch(self) -> bool:
        return self.base is not None and self.base.lower() == "scratch"


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile with stages resolved and inline ignore comments collected."""

    path: str
    lines: tuple[str, ...]
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    global_args: Mapping[str, str | None]
    #: instruction start line -> rule IDs/hadolint codes ignored for that instruction (upper-case).
    ignores: Mapping[int, frozenset[str]] = field(default_factory=dict)
    global_ignores: frozenset[str] = frozenset()
    build_args: Mapping[str, str] = field(default_factory=dict)

    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    def chain(self, stage: Stage) -> list[Stage]:
        """``stage`` and the stages it is built ``FROM``, nearest first (the stages whose files it keeps)."""
        out = [stage]
        seen = {stage.index}
        while out[-1].base_stage is not None and out[-1].base_stage not in seen:
            seen.add(out[-1].base_stage)
            out.append(self.stages[out[-1].base_stage])
        return out

    @functools.cached_property
    def final_chain(self) -> list[Stage]:
        return self.chain(self.final_stage)

    @property
    def is_multi_stage(self) -> bool:
        return len(self.stages) > 1

    def root_image(self, stage: Stage) -> Stage:
        """The stage in ``stage``'s chain whose base is an image (or scratch / unresolved)."""
        return self.chain(stage)[-1]

    def stage_by_ref(self, ref: str) -> Stage | None:
        """The stage ``COPY --from=ref`` names: a stage name or a numeric index; None for an image."""
        low = ref.lower()
        for stage in self.stages:
            if stage.name is not None and stage.name == low:
                return stage
        if low.isdigit() and int(low) < len(self.stages):
            return self.stages[int(low)]
        return None

    def variables(self, stage: Stage, upto: Instruction | None = None) -> dict[str, str | None]:
        """``ARG``/``ENV`` values visible in ``stage`` (before ``upto`` if given), inherited ``ENV`` included."""
        env: dict[str, str | None] = {}
        for parent in reversed(self.chain(stage)[1:]):
            env.update(_declared(parent, self, None, env_only=True))
        env.update(_declared(stage, self, upto, env_only=False, inherited=env))
        return env


def expand(text: str, variables: Mapping[str, str | None]) -> tuple[str | None, tuple[str, ...]]:
    """Substitute ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}`` as BuildKit does.

    Returns ``(result, ())`` or ``(None, names)`` when some variable has no value at lint time.
    """
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3) or ""
        value = variables.get(name)
        is_set = name in variables and value is not None
        if op in (":-", "-"):
            return value if is_set and (value or op == "-") else word  # type: ignore[return-value]
        if op in (":+", "+"):
            return word if is_set and (value or op == "+") else ""
        if not is_set:
            missing.append(name)
            return ""
        return value or ""

    result = _VAR_RE.sub(sub, text)
    if missing:
        return None, tuple(dict.fromkeys(missing))
    return result, ()


def unquote(word: str) -> str:
    """Remove shell quoting from an ``ENV``/``LABEL`` key or value the way BuildKit's lexer does."""
    if not any(c in word for c in "\"'\\"):
        return word
    try:
        parts = shlex.split(word, posix=True)
    except ValueError:
        return word.strip("\"'")
    return " ".join(parts) if parts else ""


def key_values(instr: Instruction) -> list[tuple[str, str]]:
    """``ENV``/``LABEL`` pairs, unquoted (BuildKit already split them into key, value, key, value...)."""
    args = list(instr.args)
    return [(unquote(args[i]), unquote(args[i + 1])) for i in range(0, len(args) - 1, 2)]


def arg_decls(instr: Instruction) -> list[tuple[str, str | None]]:
    """``ARG A=1 B`` as ``[("A", "1"), ("B", None)]``."""
    out: list[tuple[str, str | None]] = []
    for word in instr.args:
        key, sep, value = word.partition("=")
        out.append((key, unquote(value) if sep else None))
    return out


def _declared(
    stage: Stage,
    df: Dockerfile,
    upto: Instruction | None,
    *,
    env_only: bool,
    inherited: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    scope: dict[str, str | None] = dict(inherited or {})
    for instr in stage.instructions:
        if instr is upto:
            break
        if instr.keyword == "ENV":
            for key, value in key_values(instr):
                scope[key] = expand(value, scope)[0]
        elif instr.keyword == "ARG" and not env_only:
            for key, default in arg_decls(instr):
                if key in df.build_args:
                    scope.setdefault(key, df.build_args[key])
                elif default is not None:
                    scope.setdefault(key, expand(default, scope)[0])
                elif key in df.global_args:
                    scope.setdefault(key, df.global_args[key])
                else:
                    scope.setdefault(key, None)
    return scope


def read_dockerfile(path: Path) -> str:
    """The text of ``path``, refusing files that are too large, binary or not UTF-8."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_DOCKERFILE_BYTES + 1)
    except IsADirectoryError:
        raise DockerfileError(
            "is a directory; pass the Dockerfile or let imgsec find Dockerfiles in it"
        ) from None
    except FileNotFoundError:
        raise DockerfileError("no such file") from None
    except OSError as exc:
        raise DockerfileError(f"cannot read: {exc.strerror or exc}") from None
    return decode_dockerfile(data)


def decode_dockerfile(data: bytes) -> str:
    """Decode raw bytes as a Dockerfile (UTF-8, optional BOM), refusing hostile content with the reason."""
    if len(data) > MAX_DOCKERFILE_BYTES:
        raise DockerfileError(
            f"larger than {MAX_DOCKERFILE_BYTES // (1024 * 1024)} MiB; this is not a Dockerfile imgsec will lint"
        )
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise DockerfileError(f"binary file (NUL byte at line {line}); not a Dockerfile")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DockerfileError(
            f"invalid UTF-8 at line {line} (byte offset {exc.start}); save the file as UTF-8"
        ) from None


def _collect_ignores(
    lines: list[str], instructions: list[Instruction]
) -> tuple[dict[int, frozenset[str]], frozenset[str]]:
    per_line: dict[int, frozenset[str]] = {}
    global_ids: set[str] = set()
    prev_end = 0
    for instr in instructions:
        ids: set[str] = set()
        j = instr.start_line - 1  # 1-based line just above the instruction
        while j > prev_end and lines[j - 1].lstrip().startswith("#"):
            m = _IGNORE_RE.match(lines[j - 1])
            if m and not m.group(2):
                ids.update(x.strip().upper() for x in m.group(3).split(",") if x.strip())
            j -= 1
        if ids:
            per_line[instr.start_line] = frozenset(ids)
        prev_end = instr.end_line
    for line in lines:
        m = _IGNORE_RE.match(line)
        if m and m.group(2):
            global_ids.update(x.strip().upper() for x in m.group(3).split(",") if x.strip())
    return per_line, frozenset(global_ids)


def _to_instruction(cmd: _bk.Command) -> Instruction:
    if not cmd.cmd:
        # BuildKit yields an empty node for a lone trailing escape character.
        raise DockerfileError(f"line {cmd.start_line}: an escape character with no instruction after it")
    return Instruction(
        keyword=cmd.cmd.upper(),
        args=tuple(v for v in cmd.value or () if v is not None),
        flags=tuple(cmd.flags or ()),
        original=cmd.original or "",
        start_line=cmd.start_line,
        end_line=cmd.end_line,
        json=bool(cmd.json),
        heredocs=tuple(Heredoc(h.name or "", h.content or "") for h in cmd.heredocs or ()),
        onbuild_keyword=cmd.sub_cmd.upper() if cmd.sub_cmd else None,
    )


def parse_dockerfile(
    text: str, path: str = "Dockerfile", build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    """Parse ``text`` and resolve its stages; raises :class:`DockerfileError` with a line number."""
    build_args = dict(build_args or {})
    if not text.strip():
        raise DockerfileError("empty file; a Dockerfile needs at least a FROM instruction")
    # The Go parser receives a C string: a NUL would silently truncate the file and a lone surrogate
    # aborts the whole process, so both are refused here too (not only when decoding bytes).
    if "\0" in text:
        raise DockerfileError(
            f"binary file (NUL byte at line {text[: text.index(chr(0))].count(chr(10)) + 1})"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text[: exc.start].count("\n") + 1
        raise DockerfileError(
            f"invalid text at line {line}: unpaired surrogate; save the file as UTF-8"
        ) from None
    if len(text) > MAX_DOCKERFILE_BYTES:
        raise DockerfileError(f"larger than {MAX_DOCKERFILE_BYTES // (1024 * 1024)} MiB; not linted")
    try:
        commands = _bk.parse_string(text)
    except _bk.GoParseError as exc:
        raise DockerfileError(f"BuildKit cannot parse it: {exc}") from None
    instructions = [_to_instruction(c) for c in commands]
    lines = text.splitlines()

    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    pending: list[tuple[Instruction, list[Instruction]]] = []
    for instr in instructions:
        if instr.keyword not in KNOWN_INSTRUCTIONS:
            raise DockerfileError(f"line {instr.start_line}: unknown instruction {instr.keyword[:40]!r}")
        if instr.keyword == "FROM":
            current = []
            pending.append((instr, current))
        elif current is None:
            if instr.keyword != "ARG":
                raise DockerfileError(
                    f"line {instr.start_line}: {instr.keyword} before the first FROM (only ARG may come first)"
                )
            for key, default in arg_decls(instr):
                value = build_args.get(key, default)
                global_args[key] = expand(value, global_args)[0] if value is not None else None
        else:
            current.append(instr)
    if not pending:
        raise DockerfileError("no FROM instruction; not a Dockerfile")

    names: dict[str, int] = {}
    for index, (from_instr, body) in enumerate(pending):
        stages.append(_make_stage(index, from_instr, body, names, global_args))
    ignores, global_ignores = _collect_ignores(lines, instructions)
    return Dockerfile(
        path=path,
        lines=tuple(lines),
        instructions=tuple(instructions),
        stages=tuple(stages),
        global_args=global_args,
        ignores=ignores,
        global_ignores=global_ignores,
        build_args=build_args,
    )


def _make_stage(
    index: int,
    instr: Instruction,
    body: list[Instruction],
    names: dict[str, int],
    global_args: Mapping[str, str | None],
) -> Stage:
    args = instr.args
    name: str | None = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME_RE.match(name):
            raise DockerfileError(f"line {instr.start_line}: invalid stage name {args[2][:60]!r}")
        if name in names:
            raise DockerfileError(f"line {instr.start_line}: duplicate stage name {name!r}")
    elif len(args) != 1:
        raise DockerfileError(
            f"line {instr.start_line}: FROM expects IMAGE [AS NAME], got {instr.original[:80]!r}"
        )
    base_text = args[0]
    base, missing = expand(base_text, global_args)
    base_ref: Reference | None = None
    base_stage: int | None = None
    if base is not None:
        if not base:
            raise DockerfileError(
                f"line {instr.start_line}: FROM {base_text!r} expands to an empty image name"
            )
        if base.lower() in names:
            base_stage = names[base.lower()]
        elif base.lower() != "scratch":
            try:
                base_ref = parse_reference(base, default_tag=False)
            except InvalidReferenceError as exc:
                raise DockerfileError(f"line {instr.start_line}: {exc}") from None
    if name is not None:
        names[name] = index
    return Stage(
        index=index,
        name=name,
        from_instruction=instr,
        base_text=base_text,
        base=base,
        base_ref=base_ref,
        base_stage=base_stage,
        instructions=tuple(body),
        unresolved=missing,
    )
