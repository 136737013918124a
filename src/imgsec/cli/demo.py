"""``imgsec demo``: the main job on embedded defaults, offline (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imgsec.cli.common import (
    CacheDirOpt,
    ConfigOpt,
    FormatOpt,
    QuietOpt,
    err_console,
    handle_errors,
    setup_logging,
)


@handle_errors
def demo(
    mirror: Annotated[
        str | None,
        typer.Option("--mirror", help="Advisory mirror (default IMGSEC_DB_MIRROR or ../shared/vulndata)."),
    ] = None,
    fmt: FormatOpt = None,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build the vulnerability database if needed and scan the embedded demo image."""
    from imgsec.cli.scan import scan
    from imgsec.config import Config
    from imgsec.demo import DEMO_TAG, build_demo_image
    from imgsec.vulndb.paths import db_path
    from imgsec.vulndb.update import build_database, resolve_mirror

    setup_logging(quiet)
    cfg = Config.load(config)
    dest = db_path(cfg, cache_dir)
    if not dest.is_file():
        fallback = Path("../shared/vulndata")
        location = mirror or (None if not fallback.is_dir() else str(fallback.resolve()))
        location = resolve_mirror(cfg, location)
        if not quiet:
            err_console.print(f"imgsec: building the vulnerability database from {location}", markup=False)
        build_database(location, dest)
    layout = build_demo_image(cfg.cache_dir(cache_dir))
    if not quiet:
        err_console.print(f"imgsec: scanning the demo image oci:{layout}:{DEMO_TAG}", markup=False)
    scan(
        image=f"oci:{layout}:{DEMO_TAG}",
        scanners="vuln,secret,config",
        fmt=fmt,
        cache_dir=cache_dir,
        config=config,
        quiet=quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
