"""``imgsec db update|status|import|push|pull``: the offline vulnerability database."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imgsec.cli.common import (
    CaCertOpt,
    CacheDirOpt,
    ConfigOpt,
    FormatOpt,
    InsecureOpt,
    OutputOpt,
    PasswordStdinOpt,
    QuietOpt,
    UsernameOpt,
    err_console,
    handle_errors,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.config import Config

STATUS_FORMATS = ("table", "json")

db_app = typer.Typer(
    name="db",
    help="Build, inspect and extend the offline vulnerability database.",
    no_args_is_help=True,
)

MirrorOpt = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        help="Mirror directory or http(s) base URL (osv/<Ecosystem>/all.zip, debian/tracker.json, "
        "alpine/vX.Y/*.json, cve/records.zip). Default: IMGSEC_DB_MIRROR or db-mirror in imgsec.yaml.",
        show_default=False,
    ),
]


def _age(built_at: str | None) -> str:
    if not built_at:
        return "unknown"
    try:
        then = datetime.strptime(built_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "unknown"
    seconds = int((datetime.now(UTC) - then).total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@db_app.command("update")
@handle_errors
def update(
    mirror: MirrorOpt = None,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Rebuild the database from a mirror; the old one stays usable until the new one is complete."""
    from imgsec.vulndb.paths import db_path
    from imgsec.vulndb.update import build_database, resolve_mirror

    setup_logging(quiet)
    cfg = Config.load(config)
    location = resolve_mirror(cfg, mirror)
    dest = db_path(cfg, cache_dir)
    if not quiet:
        err_console.print(f"imgsec: building the vulnerability database from {location}", markup=False)
    report = build_database(location, dest)
    if not quiet:
        records = sum(s.records for s in report.sources)
        skipped = sum(s.skipped for s in report.sources)
        err_console.print(
            f"imgsec: {dest}: {records} records from {len(report.sources)} sources "
            f"({skipped} skipped) in {report.seconds:.1f}s",
            markup=False,
        )


@db_app.command("status")
@handle_errors
def status(
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Show the database's sources, record counts and age."""
    from imgsec.vulndb.paths import db_path
    from imgsec.vulndb.store import VulnDB

    setup_logging(quiet)
    chosen = resolve_format(fmt, STATUS_FORMATS)
    cfg = Config.load(config)
    with VulnDB(db_path(cfg, cache_dir)) as db:
        st = db.status()
    if chosen == "json":
        doc = {
            "path": str(st.path),
            "schema_version": st.schema_version,
            "built_at": st.built_at,
            "age": _age(st.built_at),
            "counts": st.counts,
            "sources": [
                {
                    "source": s.source,
                    "url": s.url,
                    "sha256": s.sha256,
                    "etag": s.etag,
                    "imported_at": s.imported_at,
                    "records": s.records,
                    "skipped": s.skipped,
                    "problems": s.problems,
                }
                for s in st.sources
            ],
        }
        write_output(json.dumps(doc, indent=2) + "\n", output)
        return
    table = Table(title=f"{st.path} (built {st.built_at or 'unknown'}, {_age(st.built_at)} ago)")
    for col in ("source", "records", "skipped", "imported", "problems"):
        table.add_column(col, justify="right" if col in ("records", "skipped") else "left")
    for s in st.sources:
        problems = ", ".join(f"{k}: {v}" for k, v in sorted(s.problems.items()))
        table.add_row(s.source, str(s.records), str(s.skipped), s.imported_at, problems)
    buffer = io.StringIO()
    console = Console(file=buffer, width=140, highlight=False, color_system=None)
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in st.counts.items()), markup=False)
    write_output(buffer.getvalue(), output)


@db_app.command("import")
@handle_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="An OSV record (.json) or zip of records, a Debian tracker JSON, an Alpine secdb JSON, "
            "or a CVE JSON 5 record or zip.",
            dir_okay=False,
        ),
    ],
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Add one file's advisories to the database (records with the same id are replaced)."""
    from imgsec.vulndb.paths import db_path
    from imgsec.vulndb.update import import_file

    setup_logging(quiet)
    cfg = Config.load(config)
    meta = import_file(file, db_path(cfg, cache_dir))
    if not quiet:
        err_console.print(
            f"imgsec: imported {meta.records} records from {file} ({meta.skipped} skipped)", markup=False
        )


RefArg = Annotated[
    str,
    typer.Argument(help="Registry reference of the database artifact, e.g. registry.local/imgsec/db:latest."),
]


@db_app.command("push")
@handle_errors
def push(
    ref: RefArg,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Push the database to a registry as an OCI artifact (for air-gapped clusters); prints REF@DIGEST."""
    from imgsec.cli.images import registry_options
    from imgsec.reference import parse_reference
    from imgsec.vulndb.oci import push_database
    from imgsec.vulndb.paths import db_path

    setup_logging(quiet)
    cfg = Config.load(config)
    reference = parse_reference(ref)
    opts = registry_options(username, password_stdin, ca_cert, insecure)
    dest = db_path(cfg, cache_dir)
    with opts.client(reference) as client:
        result = push_database(client, reference, dest)
    if not quiet:
        err_console.print(
            f"imgsec: pushed {dest} (built {result.built_at or 'unknown'}, "
            f"{result.counts.get('advisory', 0)} advisories, {result.layer.size} bytes compressed) to {ref}",
            markup=False,
        )
    typer.echo(f"{reference.without_digest().with_tag(None)}@{result.digest}")


@db_app.command("pull")
@handle_errors
def pull(
    ref: RefArg,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    max_size: Annotated[
        int | None,
        typer.Option(
            "--max-size", help="Largest decompressed database to accept, in bytes (default 8 GiB).", min=1
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Replace the database with one pushed by 'imgsec db push'; the old one stays if anything fails."""
    from imgsec.cli.images import registry_options
    from imgsec.reference import parse_reference
    from imgsec.vulndb.oci import MAX_DB_SIZE, pull_database
    from imgsec.vulndb.paths import db_path

    setup_logging(quiet)
    cfg = Config.load(config)
    reference = parse_reference(ref)
    opts = registry_options(username, password_stdin, ca_cert, insecure)
    dest = db_path(cfg, cache_dir)
    with opts.client(reference) as client:
        result = pull_database(client, reference, dest, max_size=max_size or MAX_DB_SIZE)
    if not quiet:
        err_console.print(
            f"imgsec: {dest}: pulled {ref} ({result.digest}, built {result.built_at or 'unknown'}, "
            f"{result.size} bytes)",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
