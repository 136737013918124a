"""Options and plumbing shared by every command (see ../shared/CLI.md)."""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, cast

import typer

from imgsec.errors import ImgsecError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def stderr_console() -> Console:
    """The stderr console for progress, warnings and errors; results never go there."""
    from rich.console import Console  # created on first use: rich costs ~30 ms of start-up

    return Console(stderr=True, highlight=False, soft_wrap=True)


class _LazyConsole:
    def __getattr__(self, name: str) -> Any:
        return getattr(stderr_console(), name)


#: :func:`stderr_console`, looked up on first use.
err_console = cast("Console", _LazyConsole())

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Output format (table on a TTY, else json).", show_default=False),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write results to FILE instead of stdout.", dir_okay=False),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Config file (default ./imgsec.yaml).", dir_okay=False)
]
CacheDirOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Cache directory.", file_okay=False)]
PlatformOpt = Annotated[
    str | None, typer.Option("--platform", help="os/arch[/variant] to pick from a multi-platform image.")
]
UsernameOpt = Annotated[str | None, typer.Option("--username", help="Registry user name.")]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")
]
CaCertOpt = Annotated[
    Path | None, typer.Option("--ca-cert", help="PEM bundle to trust for registry TLS.", dir_okay=False)
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow plain HTTP and skip TLS verification (never the default).")
]
SeverityOpt = Annotated[
    str | None, typer.Option("--severity", help="Comma-separated severities to report (e.g. HIGH,CRITICAL).")
]
ExitCodeOpt = Annotated[
    int | None,
    typer.Option("--exit-code", help="Exit code when findings remain above the threshold (default 1)."),
]


def resolve_format(fmt: str | None, allowed: tuple[str, ...]) -> str:
    """The requested format, or ``table`` when stdout is a terminal and ``json`` when piped."""
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() and "table" in allowed else "json"
    fmt = fmt.lower()
    if fmt not in allowed:
        raise UsageError(f"unknown --format {fmt!r}; choose one of: {', '.join(allowed)}")
    return fmt


def write_output(text: str | bytes, output: Path | None) -> None:
    """Write results to stdout, or atomically to ``output`` (never a partial file)."""
    data = text.encode() if isinstance(text, str) else text
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    directory = output.parent if str(output.parent) else Path()
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=directory)
    try:
        # mkstemp creates 0600; a report is an ordinary file, so honour the umask like open() does.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_password_stdin(flag: bool) -> str | None:
    if not flag:
        return None
    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("--password-stdin: no standard input to read the password from")
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UsageError("--password-stdin: standard input was empty")
    return value


def setup_logging(quiet: bool) -> None:
    level = os.environ.get("IMGSEC_LOG_LEVEL", "ERROR" if quiet else "WARNING").upper()
    logging.basicConfig(
        level=level, format="imgsec: %(levelname)s: %(message)s", stream=sys.stderr, force=True
    )


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map ImgsecError to its exit code and one line on stderr; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ImgsecError as exc:
            err_console.print(f"imgsec: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("imgsec: interrupted", markup=False)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except (BrokenPipeError, ConnectionResetError):
            raise typer.Exit(0) from None
        except Exception as exc:
            if os.environ.get("IMGSEC_DEBUG"):
                raise
            err_console.print(
                f"imgsec: internal error: {type(exc).__name__}: {exc} (set IMGSEC_DEBUG=1 for details; please report)",
                markup=False,
            )
            raise typer.Exit(2) from None

    return wrapper


def json_default(obj: Any) -> Any:
    """``json.dumps`` default for Paths and sets."""
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
