"""``imgsec sbom IMAGE``: the software bill of materials of an image.

``--attest --key KEY`` also attaches the SBOM to the image as a signed in-toto attestation
(CycloneDX by default, ``--type spdxjson`` for SPDX), as ``imgsec attest`` would with the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imgsec.cli.common import (
    CaCertOpt,
    CacheDirOpt,
    ConfigOpt,
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
from imgsec.errors import UsageError

SBOM_FORMATS = ("table", "json", "cyclonedx", "spdx")
#: ``--attest --type`` -> the sbom format rendered as the predicate.
ATTEST_TYPES = {"cyclonedx": "cyclonedx", "spdxjson": "spdx"}
_NO_SIGNATURES = ("oci-archive:", "docker-archive:", "dir:")

AttestOpt = Annotated[
    bool,
    typer.Option("--attest", help="Also attach the result to the image as a signed in-toto attestation."),
]
AttestKeyOpt = Annotated[
    Path | None,
    typer.Option("--key", help="With --attest: private key (cosign encrypted or plain PEM).", dir_okay=False),
]
AttestSigRepoOpt = Annotated[
    str | None,
    typer.Option(
        "--signature-repo",
        help="With --attest: repository holding attestations (default: the image's; IMGSEC_REPOSITORY).",
    ),
]
AttestIdentityOpt = Annotated[
    str | None,
    typer.Option(
        "--identity", help="With --attest: subject name (default: the image's repository; needed for oci:)."
    ),
]


def check_attest_args(image: str, attest: bool, key: Path | None, identity: str | None) -> None:
    """Refuse a useless ``--attest`` before any work: only registry images and oci: layouts hold attestations."""
    if not attest:
        if key is not None or identity is not None:
            raise UsageError("--key and --identity only apply with --attest")
        return
    if key is None:
        raise UsageError("--attest needs the signing key: add --key KEY")
    if image.startswith(_NO_SIGNATURES):
        raise UsageError(
            f"--attest: {image.split(':', 1)[0]}: images cannot hold attestations; "
            "use a registry reference or an oci: layout"
        )
    if image.startswith("oci:") and identity is None:
        raise UsageError(f"--attest: {image}: an OCI layout has no repository name; give it with --identity")
    from imgsec.signing.keys import read_key_file

    read_key_file(key)  # an unreadable key fails now, not after the whole image was read


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
    attest: AttestOpt = False,
    key: AttestKeyOpt = None,
    attest_type: Annotated[
        str, typer.Option("--type", help="With --attest: predicate type, cyclonedx or spdxjson.")
    ] = "cyclonedx",
    signature_repo: AttestSigRepoOpt = None,
    identity: AttestIdentityOpt = None,
    config: ConfigOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Read every layer again instead of reusing cached per-layer results."
        ),
    ] = False,
) -> None:
    """List every package in an image (table, json, cyclonedx, spdx); --attest also signs it onto the image."""
    setup_logging(quiet)
    chosen = resolve_format(fmt, SBOM_FORMATS)
    check_attest_args(image, attest, key, identity)
    if attest_type not in ATTEST_TYPES:
        raise UsageError(f"--type {attest_type!r}: choose {' or '.join(ATTEST_TYPES)}")
    registry = registry_options(username, password_stdin, ca_cert, insecure)
    img = open_cli_image(image, platform, registry)
    from imgsec.config import Config
    from imgsec.image.cache import LayerCache
    from imgsec.image.layers import prestart

    cache = None if no_cache else LayerCache(Config.load(config).cache_dir(cache_dir) / "layers")
    started = prestart(img, cache)  # decompression starts while the catalogers are imported
    from imgsec.sbom.catalog import catalog_image
    from imgsec.sbom.formats import render

    with byte_progress(img, quiet) as on_bytes:
        result = catalog_image(img, on_bytes=on_bytes, cache=cache, started=started)
    rendered = render(result, chosen)
    if attest and key is not None:
        from imgsec.cli.sign import _signature_repo, attach_attestation

        predicate = (
            rendered if chosen == ATTEST_TYPES[attest_type] else render(result, ATTEST_TYPES[attest_type])
        )
        attach_attestation(
            image,
            key,
            predicate.encode("utf-8"),
            attest_type,
            registry,
            signature_repo=_signature_repo(signature_repo, config),
            identity=identity,
            quiet=quiet,
        )
    write_output(rendered, output)


def register(app: typer.Typer) -> None:
    app.command("sbom")(sbom)
