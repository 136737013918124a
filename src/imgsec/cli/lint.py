"""``imgsec lint DOCKERFILE...``: Dockerfile rules (see docs/lint-rules.md)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from imgsec.cli.common import (
    ConfigOpt,
    FormatOpt,
    OutputOpt,
    QuietOpt,
    err_console,
    handle_errors,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.config import Config
from imgsec.errors import UsageError
from imgsec.lint import (
    ALL_RULES,
    RULES_BY_ID,
    FileResult,
    LintConfig,
    Severity,
    failed,
    lint_bytes,
    lint_paths,
)
from imgsec.lint.config import resolve_lint_config
from imgsec.lint.output import render_checkstyle, render_json, render_sarif
from imgsec.lint.parse import MAX_DOCKERFILE_BYTES

FORMATS = ("table", "json", "sarif", "checkstyle")
_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _console(buf: io.StringIO, width: int | None = None) -> Console:
    tty = sys.stdout.isatty()
    return Console(file=buf, width=width or (None if tty else 160), force_terminal=tty, highlight=False)


def _render_table(results: list[FileResult], cfg: LintConfig, is_failed: bool) -> str:
    buf = io.StringIO()
    console = _console(buf)
    for r in results:
        if r.error or not r.findings:
            continue
        table = Table(title=r.path, title_justify="left", expand=False)
        table.add_column("Line", justify="right")
        table.add_column("Rule")
        table.add_column("Severity")
        table.add_column("Finding")
        for f in r.findings:
            table.add_row(str(f.line), f.rule_id, Text(f.severity.label, style=_STYLE[f.severity]), f.message)
        console.print(table)
    total = sum(len(r.findings) for r in results)
    errors = sum(1 for r in results if r.error)
    verdict = "FAIL" if is_failed else "ok"
    console.print(
        f"{len(results)} file(s), {total} finding(s), {errors} unreadable; "
        f"failure threshold {cfg.failure_threshold.label}: {verdict}",
        markup=False,
    )
    return buf.getvalue()


def _rules_table() -> str:
    buf = io.StringIO()
    console = _console(buf, width=200)
    table = Table()
    for col in ("ID", "Severity", "Name", "Rule", "hadolint"):
        table.add_column(col)
    for r in ALL_RULES:
        table.add_row(r.id, r.severity.label, r.name, r.title, ",".join(r.hadolint))
    console.print(table)
    return buf.getvalue()


def register(app: typer.Typer) -> None:
    @app.command("lint")
    @handle_errors
    def lint(
        paths: Annotated[
            list[Path] | None,
            typer.Argument(
                help="Dockerfiles or directories (searched for Dockerfile, Dockerfile.*, *.Dockerfile); - for stdin.",
                show_default=False,
            ),
        ] = None,
        fmt: FormatOpt = None,
        output: OutputOpt = None,
        quiet: QuietOpt = False,
        config: ConfigOpt = None,
        failure_threshold: Annotated[
            str | None,
            typer.Option(
                "--failure-threshold",
                help="Exit 1 when a finding is at or above this severity: info, low, medium (default), high, critical.",
            ),
        ] = None,
        trusted_registry: Annotated[
            list[str] | None,
            typer.Option(
                "--trusted-registry", help="Registry (or host/namespace) base images may come from; repeat."
            ),
        ] = None,
        disable: Annotated[
            list[str] | None, typer.Option("--disable", help="Rule ID to skip (IS-DF-004); repeat.")
        ] = None,
        require_digest: Annotated[
            bool | None,
            typer.Option(
                "--require-digest/--no-require-digest", help="Flag base images not pinned by digest."
            ),
        ] = None,
        build_arg: Annotated[
            list[str] | None, typer.Option("--build-arg", help="NAME=VALUE for ARGs used in FROM; repeat.")
        ] = None,
        list_rules: Annotated[bool, typer.Option("--list-rules", help="List the rules and exit.")] = False,
    ) -> None:
        """Check Dockerfiles for supply-chain and hardening problems (rule IDs IS-DF-NNN)."""
        setup_logging(quiet)
        if list_rules:
            write_output(_rules_table(), output)
            return
        if not paths:
            raise UsageError("no Dockerfile given; usage: imgsec lint DOCKERFILE|DIR|- ...")
        if fmt is not None and fmt.lower() == "tty":
            fmt = "table"
        chosen = resolve_format(fmt, FORMATS)
        cfg = resolve_lint_config(
            Config.load(config),
            trusted_registries=trusted_registry,
            disabled_rules=disable,
            require_digest=require_digest,
            failure_threshold=failure_threshold,
            build_args=build_arg,
        )
        unknown = sorted(cfg.disabled_rules - set(RULES_BY_ID))
        if unknown:
            raise UsageError(
                f"unknown rule ID(s) to disable: {', '.join(unknown)}; see imgsec lint --list-rules"
            )
        results: list[FileResult] = []
        for p in paths:
            if str(p) == "-":
                data = sys.stdin.buffer.read(MAX_DOCKERFILE_BYTES + 1) if sys.stdin is not None else b""
                results.append(lint_bytes(data, "-", cfg))
            else:
                results.extend(lint_paths([p], cfg))
        if not results:
            raise UsageError("no Dockerfiles found in the given directories")
        for r in results:
            if r.error:
                err_console.print(f"imgsec: error: {r.path}: {r.error}", markup=False)
        is_failed = failed(results, cfg.failure_threshold)
        if chosen == "json":
            text = render_json(results, cfg.failure_threshold, is_failed)
        elif chosen == "sarif":
            text = render_sarif(results, ALL_RULES)
        elif chosen == "checkstyle":
            text = render_checkstyle(results)
        else:
            text = _render_table(results, cfg, is_failed)
        write_output(text, output)
        if any(r.error for r in results):
            raise typer.Exit(2)
        if is_failed:
            raise typer.Exit(1)
