"""``imgsec scan IMAGE | --sbom FILE``: vulnerabilities, secrets and misconfigurations."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imgsec.cli.common import (
    CaCertOpt,
    CacheDirOpt,
    ConfigOpt,
    ExitCodeOpt,
    FormatOpt,
    InsecureOpt,
    OutputOpt,
    PasswordStdinOpt,
    PlatformOpt,
    QuietOpt,
    SeverityOpt,
    UsernameOpt,
    err_console,
    handle_errors,
    resolve_format,
    setup_logging,
    write_output,
)
from imgsec.cli.images import byte_progress, open_cli_image, registry_options
from imgsec.cli.sbom import (
    AttestIdentityOpt,
    AttestKeyOpt,
    AttestOpt,
    AttestSigRepoOpt,
    check_attest_args,
)
from imgsec.config import Config, as_bool
from imgsec.errors import UsageError
from imgsec.findings import Severity

if TYPE_CHECKING:
    from imgsec.scan import ScanResult

DEFAULT_DB_MAX_AGE = timedelta(days=7)
_DURATION_RE = re.compile(r"^(\d+)\s*([smhdw]?)$")


def parse_duration(text: str) -> timedelta:
    """``90m``, ``36h``, ``7d``, ``2w`` (a bare number is hours)."""
    m = _DURATION_RE.match(str(text).strip().lower())
    if not m:
        raise UsageError(f"invalid duration {text!r}: use e.g. 36h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2) or "h"
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vuln_predicate(result: ScanResult, started: datetime, finished: datetime) -> dict[str, Any]:
    """cosign's vuln predicate (``CosignVulnPredicate``, https://cosign.sigstore.dev/attestation/vuln/v1).

    ``scanner.result`` is imgsec's JSON scan report; ``scanner.db`` names the database and when it was
    built (there is no other version).
    """
    from imgsec import __version__
    from imgsec.report.scan import render_scan

    db = result.database
    report = json.loads(render_scan(result, "json"))
    if isinstance(report.get("database"), dict):
        report["database"].pop("path", None)  # a local path has no place in a published statement
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:pypi/imgsec@" + __version__,
            "version": __version__,
            "db": {"uri": "", "version": (db.built_at or "") if db else ""},
            "result": report,
        },
        "metadata": {"scanStartedOn": _rfc3339(started), "scanFinishedOn": _rfc3339(finished)},
    }


@handle_errors
def scan(
    image: Annotated[
        str | None,
        typer.Argument(
            help="Registry reference, oci:DIR[:tag], oci-archive:FILE, docker-archive:FILE or dir:ROOTFS."
        ),
    ] = None,
    sbom: Annotated[
        Path | None,
        typer.Option("--sbom", help="Scan this SBOM (CycloneDX, SPDX, syft or imgsec JSON; - for stdin)."),
    ] = None,
    scanners: Annotated[
        str | None,
        typer.Option("--scanners", help="Comma-separated: vuln,secret,config (default vuln,secret)."),
    ] = None,
    severity: SeverityOpt = None,
    ignore_unfixed: Annotated[
        bool, typer.Option("--ignore-unfixed", help="Hide vulnerabilities with no fix.")
    ] = False,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit non-zero if a finding at or above this severity remains."),
    ] = None,
    exit_code: ExitCodeOpt = None,
    ignore_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--ignore-file", help="Ignore file (default ./.imgsecignore); repeatable.", dir_okay=False
        ),
    ] = None,
    vex: Annotated[
        list[Path] | None,
        typer.Option("--vex", help="OpenVEX or CycloneDX VEX document; repeatable.", dir_okay=False),
    ] = None,
    db_max_age: Annotated[
        str | None,
        typer.Option("--db-max-age", help="Fail if the database is older than this (e.g. 24h, 7d)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    platform: PlatformOpt = None,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Read every layer again instead of reusing cached per-layer results."
        ),
    ] = False,
    config: ConfigOpt = None,
    attest: AttestOpt = False,
    key: AttestKeyOpt = None,
    signature_repo: AttestSigRepoOpt = None,
    identity: AttestIdentityOpt = None,
) -> None:
    """Find known vulnerabilities, secrets (even in deleted files) and misconfigurations.

    Exit code: 0 unless --fail-on or --exit-code is given; then --exit-code (default 1) when a finding
    at or above --fail-on (or any finding, with --exit-code alone) survives the filters.
    --attest --key KEY also attaches the result to IMAGE as a signed cosign vuln attestation.
    """
    from imgsec.report.scan import SCAN_FORMATS, render_scan
    from imgsec.scan import ScanOptions, check_db_age, parse_scanners, parse_severities, scan_image, scan_sbom
    from imgsec.vulndb.paths import db_path

    setup_logging(quiet)
    if (image is None) == (sbom is None):
        raise UsageError("give either an IMAGE or --sbom FILE")
    if attest and image is None:
        raise UsageError("--attest needs an IMAGE to attach the result to, not --sbom")
    check_attest_args(image or "", attest, key, identity)
    cfg = Config.load(config)
    chosen = resolve_format(cfg.get("format", fmt, None, str, section="scan"), SCAN_FORMATS)
    fail_severity = cfg.get("fail-on", fail_on, None, str, section="scan")
    threshold = None
    if fail_severity:
        try:
            threshold = Severity.parse(fail_severity)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from exc
    strict_age = db_max_age is not None
    max_age = (
        parse_duration(db_max_age)
        if db_max_age
        else cfg.get("db-max-age", None, DEFAULT_DB_MAX_AGE, parse_duration, section="scan")
    )
    options = ScanOptions(
        scanners=parse_scanners(cfg.get("scanners", scanners, None, str, section="scan")),
        severities=parse_severities(cfg.get("severity", severity, None, str, section="scan")),
        ignore_unfixed=cfg.get("ignore-unfixed", ignore_unfixed or None, False, as_bool, section="scan"),
        ignore_files=tuple(ignore_file or ()),
        vex_files=tuple(vex or ()),
        db_path=db_path(cfg, cache_dir),
        layer_cache=None if no_cache else cfg.cache_dir(cache_dir) / "layers",
        db_max_age=max_age,
    )
    if sbom is not None:
        from imgsec.sbom.formats import read_sbom

        data = sys.stdin.buffer.read() if str(sbom) == "-" else sbom
        result = scan_sbom(read_sbom(data), options)
    else:
        assert image is not None
        registry = registry_options(username, password_stdin, ca_cert, insecure)
        started = datetime.now(UTC)
        img = open_cli_image(image, platform, registry)
        with byte_progress(img, quiet) as on_bytes:
            result = scan_image(img, options, on_bytes=on_bytes)
        finished = datetime.now(UTC)
    warning = check_db_age(result, fail=strict_age)
    if warning and not quiet:
        err_console.print(f"imgsec: warning: {warning}", markup=False)
    if attest and key is not None and image is not None:
        from imgsec.cli.sign import _signature_repo, attach_attestation

        predicate = json.dumps(vuln_predicate(result, started, finished), ensure_ascii=False)
        attach_attestation(
            image,
            key,
            predicate.encode("utf-8"),
            "vuln",
            registry,
            signature_repo=_signature_repo(signature_repo, config),
            identity=identity,
            quiet=quiet,
        )
    color = sys.stdout.isatty() and output is None
    write_output(render_scan(result, chosen, width=err_console.width if color else 120, color=color), output)
    code = exit_code if exit_code is not None else 1
    if threshold is not None:
        if result.at_or_above(threshold):
            raise typer.Exit(code)
    elif exit_code is not None and result.findings:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
