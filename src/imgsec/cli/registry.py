"""``imgsec registry login|logout|check``: credentials and reachability of registries."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from imgsec.cli.common import (
    CaCertOpt,
    FormatOpt,
    InsecureOpt,
    OutputOpt,
    PasswordStdinOpt,
    QuietOpt,
    UsernameOpt,
    err_console,
    handle_errors,
    read_password_stdin,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.errors import ImgsecError, InputError, UsageError
from imgsec.reference import Reference, parse_reference
from imgsec.registry.auth import Credentials, CredentialStore, normalize_host, remove_login, save_login
from imgsec.registry.client import RegistryClient

registry_app = typer.Typer(
    name="registry", help="Log in to registries and check that they are reachable.", no_args_is_help=True
)

HostArg = Annotated[str, typer.Argument(help="Registry host, e.g. ghcr.io or 127.0.0.1:5000.")]


def _host_argument(text: str) -> str:
    host = normalize_host(text)
    if not host or any(c.isspace() for c in host) or "@" in host:
        raise UsageError(f"invalid registry host {text!r}; expected e.g. ghcr.io or 127.0.0.1:5000")
    return host


@handle_errors
def login(
    host: HostArg,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check credentials against a registry, then save them like docker login.

    Saved to ``REGISTRY_AUTH_FILE`` if set, else ``~/.docker/config.json`` (or its credential helper).
    """
    setup_logging(quiet)
    registry = _host_argument(host)
    if not username:
        raise UsageError("registry login needs --username")
    if not password_stdin:
        raise UsageError("pass the password on standard input with --password-stdin (never as an argument)")
    password = read_password_stdin(password_stdin)
    creds = Credentials(username, password, source="--username")
    with RegistryClient(CredentialStore(), insecure=insecure, ca_cert=ca_cert) as client:
        client.verify_login(registry, creds)
    where = save_login(registry, creds)
    if not quiet:
        err_console.print(f"credentials for {registry} saved to {where}", markup=False)
    write_output("Login Succeeded\n", None)


@handle_errors
def logout(host: HostArg, quiet: QuietOpt = False) -> None:
    """Remove saved credentials for a registry."""
    setup_logging(quiet)
    registry = _host_argument(host)
    if remove_login(registry):
        write_output(f"Removed login credentials for {registry}\n", None)
    elif not quiet:
        err_console.print(f"not logged in to {registry}", markup=False)


@dataclass
class CheckResult:
    registry: str
    api_host: str
    image: str | None = None
    reachable: bool = False
    scheme: str | None = None
    tls_verified: bool | None = None
    auth: str | None = None
    credentials: str | None = None
    authenticated: bool | None = None
    digest: str | None = None
    referrers_api: bool | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _parse_target(text: str) -> tuple[str, Reference | None]:
    """A bare host (``ghcr.io``, ``127.0.0.1:5000``, ``localhost``) or an image reference."""
    looks_like_host = "/" not in text.rstrip("/") or text.startswith(("http://", "https://"))
    first = text.rsplit("://", maxsplit=1)[-1].split("/", maxsplit=1)[0]
    if looks_like_host and ("." in first or ":" in first or first == "localhost"):
        return _host_argument(text), None
    try:
        ref = parse_reference(text)
    except InputError as exc:
        raise UsageError(f"{text!r} is neither a registry host nor an image reference: {exc}") from exc
    return ref.registry, ref


def _run_check(
    registry: str, ref: Reference | None, client: RegistryClient, store: CredentialStore
) -> tuple[CheckResult, ImgsecError | None]:
    probe = ref or Reference(registry=registry, repository="imgsec-check")
    result = CheckResult(registry=registry, api_host=probe.api_host, image=str(ref) if ref else None)
    try:
        ping = client.ping(probe.api_host)
        result.reachable = True
        result.scheme = ping.scheme
        result.tls_verified = ping.tls_verified
        result.auth = ping.challenge.scheme if ping.challenge else "none"
        creds = store.get(registry, ref.repository if ref else None)
        if not creds.anonymous:
            result.credentials = f"{creds.username or '<identity token>'} (from {creds.source})"
        if ping.challenge is not None and not creds.anonymous:
            client.verify_login(registry, creds)
            result.authenticated = True
        if ref is not None:
            result.digest = client.head_manifest(ref).digest
            result.referrers_api = client.referrers(ref, result.digest) is not None
    except ImgsecError as exc:
        result.error = str(exc)
        if result.reachable and result.credentials and result.authenticated is None:
            result.authenticated = False
        return result, exc
    return result, None


def _table(result: CheckResult) -> str:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = {k: v for k, v in asdict(result).items() if v is not None}
    for key, value in rows.items():
        table.add_row(key.replace("_", " "), str(value).lower() if isinstance(value, bool) else str(value))
    table.add_row("status", "ok" if result.ok else "FAILED")
    console = Console(file=None, width=120, record=True, force_terminal=sys.stdout.isatty())
    with console.capture() as capture:
        console.print(table)
    return capture.get()


@handle_errors
def check(
    target: Annotated[str, typer.Argument(help="Registry host (ghcr.io) or image (ghcr.io/org/app:tag).")],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Check reachability, TLS, credentials and (for an IMAGE) the referrers API of a registry.

    Exits 0 when everything works, 2 for refused credentials, 3 when the registry is unreachable.
    """
    setup_logging(quiet)
    chosen = resolve_format(fmt, ("table", "json"))
    registry, ref = _parse_target(target)
    store = CredentialStore.from_environment()
    password = read_password_stdin(password_stdin)
    if username or password:
        if not (username and password):
            raise UsageError("--username needs --password-stdin (and the reverse)")
        store.set(registry, Credentials(username, password, source="--username"))
    with RegistryClient(store, insecure=insecure, ca_cert=ca_cert, retries=1) as client:
        result, error = _run_check(registry, ref, client, store)
    doc: dict[str, Any] = {**asdict(result), "ok": result.ok}
    text = json.dumps(doc, indent=2) + "\n" if chosen == "json" else _table(result)
    write_output(text, output)
    if error is not None:
        err_console.print(f"imgsec: error: {error}", markup=False)
        raise typer.Exit(error.exit_code)


def register(app: typer.Typer) -> None:
    registry_app.command("login")(login)
    registry_app.command("logout")(logout)
    registry_app.command("check")(check)
    app.add_typer(registry_app, name="registry")
