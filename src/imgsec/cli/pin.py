"""``imgsec pin FILE...``: pin ``FROM`` and Kubernetes container images to ``name:tag@sha256:...``."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imgsec.cli.common import (
    CaCertOpt,
    FormatOpt,
    InsecureOpt,
    OutputOpt,
    PasswordStdinOpt,
    PlatformOpt,
    QuietOpt,
    UsernameOpt,
    err_console,
    handle_errors,
    read_password_stdin,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.errors import ImgsecError, UsageError
from imgsec.image.model import Platform
from imgsec.image.sources.registry import resolve_digest
from imgsec.pin import (
    FileKind,
    FileOutcome,
    PinResult,
    decode_input,
    detect_kind,
    pin_text,
    read_input,
    real_path,
    scan_directory,
    write_atomic,
)
from imgsec.reference import Reference
from imgsec.registry.client import RegistryClient

FORMATS = ("table", "json")


class _Resolver:
    """Resolves tags with one client per registry (cached); ``--username`` applies to one registry only."""

    def __init__(
        self,
        username: str | None,
        password: str | None,
        ca_cert: Path | None,
        insecure: bool,
        platform: Platform | None,
    ) -> None:
        self._username = username
        self._password = password
        self._ca_cert = ca_cert
        self._insecure = insecure
        self._platform = platform
        self._clients: dict[str, RegistryClient] = {}
        self._cache: dict[str, str] = {}
        self._cred_registry: str | None = None

    def __call__(self, ref: Reference) -> str:
        key = str(ref)
        if key in self._cache:
            return self._cache[key]
        client = self._clients.get(ref.registry)
        if client is None:
            username, password = None, None
            if self._username is not None:
                if self._cred_registry not in (None, ref.registry):
                    raise UsageError(
                        f"--username applies to one registry ({self._cred_registry}) but {ref.registry} is "
                        "also named; use 'imgsec registry login' for each registry instead"
                    )
                self._cred_registry = ref.registry
                username, password = self._username, self._password
            client = RegistryClient.for_reference(
                ref, username=username, password=password, ca_cert=self._ca_cert, insecure=self._insecure
            )
            self._clients[ref.registry] = client
        digest = resolve_digest(ref, client, self._platform)
        self._cache[key] = digest
        return digest

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _table(results: list[PinResult]) -> str:
    console = Console(record=True, width=200, file=io.StringIO(), highlight=False)
    table = Table("FILE", "LINE", "STATUS", "IMAGE", "PINNED", show_edge=False)
    for r in results:
        table.add_row(r.file, str(r.line), r.status, r.old, r.new or r.detail or "")
    console.print(table)
    return console.export_text()


@handle_errors
def pin(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Dockerfiles, Kubernetes YAML/JSON manifests and directories of them; '-' reads stdin."
        ),
    ],
    recursive: Annotated[
        bool,
        typer.Option(
            "--recursive", "-R", help="Also walk the subdirectories of directories given (like kubectl -R)."
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if an image is unpinned or its pin drifted."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "--diff", help="Write nothing; print a unified diff to stdout.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="With --check: do not contact registries (tag@digest pins not verified)."
        ),
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="dockerfile or yaml (default: from the file name, else sniffed); in directories, only that kind.",
        ),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    platform: PlatformOpt = None,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Pin every FROM image and container image to name:tag@sha256:... resolved from its registry.

    Directories are walked like 'kubectl apply -f DIR' (-R descends) for Dockerfiles and YAML/JSON
    manifests. Comments and formatting are kept byte for byte; only image strings change. Files are replaced
    atomically (same mode); '-' reads stdin and writes the result to stdout. Multi-platform images are
    pinned to the index digest (what the tag points to) unless --platform is given.
    """
    setup_logging(quiet)
    fmt_name = resolve_format(fmt, FORMATS)
    if check and dry_run:
        raise UsageError("--check and --dry-run/--diff are exclusive")
    if offline and not check:
        raise UsageError("--offline works only with --check (pinning needs the registry)")
    if kind is not None and kind not in ("dockerfile", "yaml"):
        raise UsageError(f"unknown --kind {kind!r}; choose dockerfile or yaml")
    if files.count("-") > 1:
        raise UsageError("'-' (stdin) may be given only once")
    if "-" in files and password_stdin:
        raise UsageError("--password-stdin cannot be used when the file is read from stdin ('-')")
    password = read_password_stdin(password_stdin)
    if password is not None and not username:
        raise UsageError("--password-stdin needs --username")
    plat = Platform.parse(platform) if platform else None
    targets = _expand(files, recursive, kind)
    resolver = _Resolver(username, password, ca_cert, insecure, plat)
    stdout_taken = dry_run or ("-" in files and not check)
    results: list[PinResult] = []
    outputs: list[str] = []
    exit_code = 0
    try:
        for name, file_kind, problem in targets:
            if problem is not None:
                err_console.print(f"imgsec: error: {name}: {problem}", markup=False)
                exit_code = max(exit_code, 2)
                continue
            try:
                outcome = _pin_one(name, file_kind, None if offline else resolver, check, dry_run)
            except ImgsecError as exc:
                err_console.print(f"imgsec: error: {name}: {exc}", markup=False)
                exit_code = max(exit_code, exc.exit_code)
                continue
            results.extend(outcome.results)
            if not quiet:
                for warning in outcome.warnings:
                    err_console.print(f"imgsec: warning: {warning}", markup=False)
            if dry_run:
                outputs.append(outcome.diff())
            elif name == "-" and not check:
                outputs.append(outcome.rewritten)
    finally:
        resolver.close()
    if check and any(r.status in ("unpinned", "drift") for r in results):
        exit_code = max(exit_code, 1)
    if fmt_name == "json":
        report = json.dumps(
            [{k: v for k, v in asdict(r).items() if k != "detail" or v is not None} for r in results],
            indent=2,
        )
        report += "\n"
    else:
        report = _table(results) if results else "no images found\n"
    if stdout_taken:
        write_output("".join(outputs), None)
        if output is not None:
            write_output(report, output)
        elif not quiet:
            err_console.print(report.rstrip("\n"), markup=False)
    else:
        write_output(report, output)
    if exit_code:
        raise typer.Exit(exit_code)


def _expand(files: list[str], recursive: bool, kind: str | None) -> list[tuple[str, str | None, str | None]]:
    """(name, kind, error) for every file to pin: named files as given, directories walked.

    A directory with nothing to pin is a usage error raised before anything is resolved or written.
    """
    only: FileKind | None = "dockerfile" if kind == "dockerfile" else "yaml" if kind == "yaml" else None
    out: list[tuple[str, str | None, str | None]] = []
    seen: set[Path] = set()
    for name in files:
        path = Path(name)
        if name == "-":
            out.append((name, kind, None))
            continue
        if not path.is_dir():
            target = real_path(path) or path.absolute()
            if target not in seen:  # named twice, or also found in a directory named before
                seen.add(target)
                out.append((name, kind, None))
            continue
        scan = scan_directory(path, recursive=recursive, kind=only)
        if not scan.files and not scan.errors:
            what = {"dockerfile": "Dockerfile", "yaml": "YAML/JSON manifest"}.get(
                kind or "", "Dockerfile or YAML/JSON manifest"
            )
            hint = (
                "; add -R to search its subdirectories" if scan.has_subdirectories and not recursive else ""
            )
            raise UsageError(f"{name}: no {what} in this directory{hint}")
        for found, found_kind in scan.files:
            target = real_path(found) or found.absolute()
            if target not in seen:
                seen.add(target)
                out.append((str(found), found_kind, None))
        out.extend((str(bad), None, problem) for bad, problem in scan.errors)
    return out


def _pin_one(
    name: str, kind: str | None, resolver: _Resolver | None, check: bool, dry_run: bool
) -> FileOutcome:
    if name == "-":
        data = sys.stdin.buffer.read(8 * 1024 * 1024 + 1)
        file_kind: FileKind = kind if kind in ("dockerfile", "yaml") else detect_kind("-", data)  # type: ignore[assignment]
        text, bom = decode_input(data, file_kind)
    else:
        path = Path(name)
        if kind in ("dockerfile", "yaml"):
            file_kind = kind  # type: ignore[assignment]
        else:
            try:
                with path.open("rb") as fh:
                    head = fh.read(65536)
            except OSError:
                head = b""
            file_kind = detect_kind(name, head)
        text, bom = read_input(path, file_kind)
    outcome = pin_text(text, file_kind, name, resolver, check=check, bom=bom)
    if name != "-" and not check and not dry_run and outcome.changed:
        write_atomic(Path(name), outcome.encoded())
    return outcome


def register(app: typer.Typer) -> None:
    app.command(name="pin")(pin)
