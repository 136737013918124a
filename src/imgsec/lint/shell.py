"""Just enough POSIX shell to see which commands a ``RUN`` executes and how they are chained.

Not a shell interpreter: it splits a script into simple commands (``argv``), records which ones are
piped into the next, strips wrappers (``sudo``, ``env``, ``VAR=value`` prefixes) and descends into
``sh -c '...'``.  Rules look at commands, never at raw text, so ``echo "apt-get upgrade"`` is not an upgrade.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from imgsec.lint.parse import SHELLS

_PUNCT = ";&|()\n"
_WRAPPERS = frozenset(
    {"sudo", "env", "nice", "nohup", "time", "command", "exec", "doas", "stdbuf", "ionice", "xargs"}
)
_MAX_DEPTH = 3


@dataclass(frozen=True)
class SimpleCommand:
    """One command: ``argv`` after wrappers are stripped, ``wrappers`` that were stripped (``sudo``...)."""

    argv: tuple[str, ...]
    wrappers: tuple[str, ...] = ()
    #: Position in its pipeline (0 = first); commands not in a pipeline have 0 and ``pipeline_len`` 1.
    pipe_index: int = 0
    pipeline: int = 0

    @property
    def name(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1] if self.argv else ""

    @property
    def args(self) -> tuple[str, ...]:
        return self.argv[1:]

    def words(self) -> list[str]:
        """Arguments that are not options."""
        return [a for a in self.argv[1:] if not a.startswith("-")]


def _tokens(script: str) -> list[str]:
    lex = shlex.shlex(script, posix=True, punctuation_chars=_PUNCT)
    lex.whitespace = " \t\r"
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        return list(lex)
    except ValueError:
        # Unbalanced quotes: fall back to whitespace/newline splitting, still better than nothing.
        out: list[str] = []
        for line in script.splitlines():
            out.extend(line.split())
            out.append("\n")
        return out


def _is_separator(token: str) -> bool:
    return bool(token) and all(c in _PUNCT for c in token)


def split_commands(script: str) -> list[SimpleCommand]:
    """The simple commands of ``script`` in order, with pipeline positions (unique pipeline numbers)."""
    return _split(script, 0, [0])


def _split(script: str, depth: int, counter: list[int]) -> list[SimpleCommand]:
    out: list[SimpleCommand] = []
    words: list[str] = []
    counter[0] += 1
    pipeline = counter[0]
    pipe_index = 0
    comment = False
    tokens = _tokens(script.replace("\\\n", ""))

    def flush(piped_next: bool) -> None:
        nonlocal pipe_index, pipeline, words
        if words:
            out.extend(_commands_of(words, pipeline, pipe_index, depth, counter))
        words = []
        if piped_next:
            pipe_index += 1
        else:
            counter[0] += 1
            pipeline = counter[0]
            pipe_index = 0

    for tok in tokens:
        if _is_separator(tok):
            if "\n" in tok:
                comment = False
            if comment:
                continue
            stripped = tok.replace("\n", "")
            flush(piped_next=stripped in ("|", "|&"))
            continue
        if comment:
            continue
        if tok.startswith("#"):
            comment = True
            continue
        words.append(tok)
    flush(piped_next=False)
    return out


def _commands_of(
    words: list[str], pipeline: int, pipe_index: int, depth: int, counter: list[int]
) -> list[SimpleCommand]:
    argv = list(words)
    wrappers: list[str] = []
    while argv:
        head = argv[0]
        base = head.rsplit("/", 1)[-1]
        if "=" in head and not head.startswith("=") and head.split("=", 1)[0].replace("_", "a").isalnum():
            argv.pop(0)  # VAR=value prefix
        elif base in _WRAPPERS:
            wrappers.append(base)
            argv.pop(0)
            # Options of the wrapper itself (sudo -E -u x, env -i, nice -n 5).
            while argv and argv[0].startswith("-"):
                opt = argv.pop(0)
                if (
                    base in ("sudo", "doas")
                    and opt in ("-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U")
                    and argv
                ) or (base == "nice" and opt == "-n" and argv):
                    argv.pop(0)
        else:
            break
    if not argv:
        return [SimpleCommand(argv=(), wrappers=tuple(wrappers), pipe_index=pipe_index, pipeline=pipeline)]
    cmd = SimpleCommand(argv=tuple(argv), wrappers=tuple(wrappers), pipe_index=pipe_index, pipeline=pipeline)
    result = [cmd]
    if depth < _MAX_DEPTH and cmd.name in SHELLS:
        inner = _inline_script(cmd.argv)
        if inner is not None:
            result.extend(_split(inner, depth + 1, counter))
    return result


def _inline_script(argv: tuple[str, ...]) -> str | None:
    """The script of ``sh -c 'script'`` / ``bash -ec 'script'``, else None."""
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return argv[i + 1] if i + 1 < len(argv) else None
        if not arg.startswith("-"):
            return None
    return None


def pipelines(commands: list[SimpleCommand]) -> list[list[SimpleCommand]]:
    """Group commands by pipeline (commands from ``sh -c`` keep their own numbering)."""
    groups: dict[int, list[SimpleCommand]] = {}
    for c in commands:
        groups.setdefault(c.pipeline, []).append(c)
    return list(groups.values())
