"""``imgsec sbom IMAGE``: the software bill of materials of an image."""

from __future__ import annotations

from typing import Annotated

import typer

from imgsec.cli.common import (
    CaCertOpt,
    FormatOpt,
    InsecureOpt,
    OutputOpt,
    PasswordStdinOpt,
    PlatformOpt,
    QuietOpt,
    UsernameOpt,
    handle_errors,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.cli.images import byte_progress, open_cli_image, registry_options

SBOM_FORMATS = ("table", "json", "cyclonedx", "spdx")


@handle_errors
def sbom(
    image: Annotated[
        str,
        typer.Argument(
            help="Registry reference, oci:DIR[:tag], oci-archive:FILE, docker-archive:FILE or dir:ROOTFS."
        ),
    ],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    platform: PlatformOpt = None,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """List every package in an image (table, json, cyclonedx, spdx)."""
    from imgsec.sbom.catalog import catalog_image
    from imgsec.sbom.formats import render

    setup_logging(quiet)
    chosen = resolve_format(fmt, SBOM_FORMATS)
    img = open_cli_image(image, platform, registry_options(username, password_stdin, ca_cert, insecure))
    with byte_progress(img, quiet) as on_bytes:
        result = catalog_image(img, on_bytes=on_bytes)
    write_output(render(result, chosen), output)


def register(app: typer.Typer) -> None:
    app.command("sbom")(sbom)
