"""The ``imgsec`` command: wires each command module onto one Typer app."""

from __future__ import annotations

import importlib
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


for _name in _COMMAND_MODULES:
    importlib.import_module(f"imgsec.cli.{_name}").register(app)


def run() -> None:
    app()
