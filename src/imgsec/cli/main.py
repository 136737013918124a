"""The ``imgsec`` command: wires each command module onto one Typer app."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from imgsec import __version__

app = typer.Typer(
    name="imgsec",
    help="Secure the container-image supply chain: SBOM, scan, sign, lint, pin, admission.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module exposes ``register(app)``; add a new command group by adding its module name here.
_COMMAND_MODULES: tuple[str, ...] = ("sbom", "scan", "demo", "db", "sign", "lint", "registry", "pin")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imgsec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """imgsec: secure the container-image supply chain for Kubernetes."""


# The module that defines each top-level command, so a run imports only what it uses (start-up
# time matters: linting 1,000 Dockerfiles or a warm re-scan should not pay for the whole CLI).
_COMMAND_OWNERS: dict[str, str] = {
    "sbom": "sbom",
    "scan": "scan",
    "demo": "demo",
    "db": "db",
    "key": "sign",
    "sign": "sign",
    "verify": "sign",
    "attest": "sign",
    "verify-attestation": "sign",
    "lint": "lint",
    "registry": "registry",
    "pin": "pin",
}
_registered: set[str] = set()


def register_commands(argv: list[str] | None = None) -> None:
    """Register the command named in ``argv`` (all of them for help or anything unknown)."""
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    owner = _COMMAND_OWNERS.get(first or "")
    for name in [owner] if owner else _COMMAND_MODULES:
        if name not in _registered:
            importlib.import_module(f"imgsec.cli.{name}").register(app)
            _registered.add(name)


def run() -> None:
    register_commands(sys.argv[1:])
    app()
