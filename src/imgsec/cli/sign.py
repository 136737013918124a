"""``imgsec key generate``, ``sign``, ``verify``, ``attest``, ``verify-attestation`` (cosign-compatible).

Passwords for private keys come from ``IMGSEC_PASSWORD``, else ``COSIGN_PASSWORD`` (set but empty
means the empty password), else a prompt when stdin is a terminal.  Signatures go to the image's own
repository unless ``--signature-repo`` / ``IMGSEC_REPOSITORY`` (or cosign's ``COSIGN_REPOSITORY``) says
otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from imgsec.cli.common import (
    CaCertOpt,
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
from imgsec.errors import InputError, UsageError
from imgsec.image.sources import RegistryOptions
from imgsec.signing.keyless import KeylessPolicy
from imgsec.signing.keys import (
    Signer,
    Verifier,
    generate_key_pair,
    is_encrypted_key,
    load_private_key,
    load_public_key_file,
    read_key_file,
    write_key_pair,
)

PASSWORD_ENV_VARS = ("IMGSEC_PASSWORD", "COSIGN_PASSWORD")
OUTPUT_FORMATS = ("table", "json")

ImageArg = Annotated[
    str, typer.Argument(help="Registry reference (host/repo:tag, @sha256:...) or oci:DIR[:tag].")
]
SignKeyOpt = Annotated[
    Path, typer.Option("--key", help="Private key (cosign encrypted or plain PEM).", dir_okay=False)
]
VerifyKeysOpt = Annotated[
    list[Path],
    typer.Option(
        "--key", help="Public key PEM; repeat for several (any one verifying is enough).", dir_okay=False
    ),
]
AnnotationsOpt = Annotated[
    list[str] | None, typer.Option("--annotation", "-a", help="key=value; repeat for several.")
]
SigRepoOpt = Annotated[
    str | None,
    typer.Option(
        "--signature-repo", help="Repository holding signatures (default: the image's; IMGSEC_REPOSITORY)."
    ),
]


def _env_password() -> bytes | None:
    for name in PASSWORD_ENV_VARS:
        value = os.environ.get(name)
        if value is not None:
            return value.encode("utf-8")
    return None


def _prompt_password(prompt: str, confirm: bool) -> bytes:
    if not sys.stdin.isatty():
        raise UsageError(
            "no password: set IMGSEC_PASSWORD (or COSIGN_PASSWORD), or run in a terminal to be prompted"
        )
    value: str = typer.prompt(
        prompt, hide_input=True, confirmation_prompt=confirm, default="", show_default=False
    )
    return value.encode("utf-8")


def _load_signer(path: Path) -> Signer:
    data = read_key_file(path)
    password: bytes | None = None
    if is_encrypted_key(data):
        password = _env_password()
        if password is None:
            password = _prompt_password(f"Enter password for private key {path}", confirm=False)
    return load_private_key(data, password, str(path))


def _load_verifiers(paths: list[Path]) -> list[Verifier]:
    if not paths:
        raise UsageError("give at least one public key with --key")
    return [load_public_key_file(p) for p in paths]


def _keyless_policy(identity: str | None, issuer: str | None, root: Path | None) -> KeylessPolicy | None:
    given = [v is not None for v in (identity, issuer, root)]
    if not any(given):
        return None
    if not all(given) or root is None or identity is None or issuer is None:
        raise UsageError(
            "keyless verification needs all of --certificate-identity, --certificate-oidc-issuer and --trusted-root"
        )
    from imgsec.signing.keyless import load_trusted_root

    try:
        with root.open("rb") as fh:
            data = fh.read(16 * 1024 * 1024 + 1)
    except OSError as exc:
        raise InputError(f"cannot read --trusted-root {root}: {exc.strerror or exc}") from exc
    return KeylessPolicy(identity=identity, issuer=issuer, root=load_trusted_root(data, str(root)))


def _annotations(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"annotation {pair!r}: expected key=value")
        out[key] = value
    return out


def _signature_repo(flag: str | None, config: Path | None) -> str | None:
    value = Config.load(config).get("repository", flag, None, str, section="sign")
    return value or os.environ.get("COSIGN_REPOSITORY") or None


def _registry_options(
    username: str | None, password_stdin: bool, ca_cert: Path | None, insecure: bool
) -> Any:
    from imgsec.cli.images import registry_options

    return registry_options(username, password_stdin, ca_cert, insecure)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class AttestationResult:
    digest: str
    location: str
    added: bool


def attach_attestation(
    image: str,
    key: Path,
    predicate: bytes,
    type_name: str,
    registry: RegistryOptions,
    *,
    signature_repo: str | None = None,
    identity: str | None = None,
    quiet: bool = False,
) -> AttestationResult:
    """Sign ``predicate`` as an attestation of ``image`` with ``key`` (password from env or prompt).

    For other commands' ``--attest`` (``imgsec sbom --attest``, ``imgsec scan --attest``): they pass the
    document they produced and the predicate type name (``cyclonedx``, ``spdxjson``, ``vuln``).
    """
    from imgsec.signing.sign import attest_image
    from imgsec.signing.targets import open_target

    signer = _load_signer(key)
    with open_target(image, registry=registry, signature_repo=signature_repo) as res:
        name = identity or res.target.identity
        if name is None:
            raise UsageError(
                f"{image}: an OCI layout has no repository name; give the subject name with --identity"
            )
        result = attest_image(
            res.store, res.target, signer, subject_name=name, predicate=predicate, type_name=type_name
        )
    if not quiet:
        verb = "Pushed attestation to" if result.added else "Already attested with this key and statement:"
        err_console.print(f"{verb} {result.location}", markup=False)
    return AttestationResult(res.target.digest, result.location, result.added)


# ------------------------------------------------------------------------------------ commands


@handle_errors
def key_generate(
    output_key_prefix: Annotated[
        str, typer.Option("--output-key-prefix", help="Write PREFIX.key and PREFIX.pub (cosign's names).")
    ] = "cosign",
    allow_empty_password: Annotated[
        bool,
        typer.Option(
            "--allow-empty-password", help="Accept an empty password (the key is then unprotected)."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate an ECDSA P-256 key pair in cosign's encrypted format (PREFIX.key mode 0600, PREFIX.pub)."""
    setup_logging(quiet)
    password = _env_password()
    if password is None:
        password = _prompt_password("Enter password for private key", confirm=True)
    if not password and not allow_empty_password:
        raise UsageError(
            "empty password: choose one, or pass --allow-empty-password to store the key unprotected"
        )
    private_path, public_path = Path(f"{output_key_prefix}.key"), Path(f"{output_key_prefix}.pub")
    write_key_pair(generate_key_pair(password), private_path, public_path, overwrite=force)
    if not quiet:
        err_console.print(
            f"Private key written to {private_path}\nPublic key written to {public_path}", markup=False
        )


@handle_errors
def sign(
    image: ImageArg,
    key: SignKeyOpt,
    annotation: AnnotationsOpt = None,
    signature_repo: SigRepoOpt = None,
    identity: Annotated[
        str | None,
        typer.Option(
            "--identity", help="docker-reference to sign (default: the image's repository; needed for oci:)."
        ),
    ] = None,
    referrers_mode: Annotated[
        str,
        typer.Option(
            "--registry-referrers-mode",
            help="legacy: the sha256-<hex>.sig tag (default); oci-1-1: an OCI 1.1 referrer of the image.",
        ),
    ] = "legacy",
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Sign IMAGE's digest (cosign simple signing) and attach it at tag sha256-<hex>.sig."""
    from imgsec.signing.sign import sign_image
    from imgsec.signing.targets import open_target

    setup_logging(quiet)
    chosen = resolve_format(fmt, OUTPUT_FORMATS)
    if referrers_mode not in ("legacy", "oci-1-1"):
        raise UsageError(f"--registry-referrers-mode {referrers_mode!r}: choose legacy or oci-1-1")
    annotations = _annotations(annotation)
    signer = _load_signer(key)
    registry = _registry_options(username, password_stdin, ca_cert, insecure)
    with open_target(image, registry=registry, signature_repo=_signature_repo(signature_repo, config)) as res:
        name = identity or res.target.identity
        if name is None:
            raise UsageError(
                f"{image}: an OCI layout has no repository name; give the one to sign with --identity"
            )
        if res.target.by_tag and not quiet:
            err_console.print(
                f"imgsec: warning: {image} is a tag; signing the digest it points to now, {res.target.digest}",
                markup=False,
            )
        result = sign_image(
            res.store,
            res.target,
            signer,
            identity=name,
            annotations=annotations,
            referrers=referrers_mode == "oci-1-1",
        )
    if not quiet:
        verb = "Pushed signature to" if result.added else "Already signed with this key and payload:"
        err_console.print(f"{verb} {result.location}", markup=False)
    doc = {"image": image, "digest": res.target.digest, "signature": result.location, "added": result.added}
    if chosen == "json":
        write_output(_json(doc), output)
    else:
        write_output(f"{image}@{res.target.digest} -> {result.location}\n", output)


@handle_errors
def verify(
    image: ImageArg,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key", help="Public key PEM; repeat for several (any one verifying is enough).", dir_okay=False
        ),
    ] = None,
    certificate_identity: Annotated[
        str | None,
        typer.Option(
            "--certificate-identity", help="Keyless: the signer's identity (certificate SAN), exact."
        ),
    ] = None,
    certificate_oidc_issuer: Annotated[
        str | None,
        typer.Option(
            "--certificate-oidc-issuer", help="Keyless: the OIDC issuer recorded in the certificate, exact."
        ),
    ] = None,
    trusted_root: Annotated[
        Path | None,
        typer.Option(
            "--trusted-root",
            help="Keyless: sigstore trusted_root.json (Fulcio CAs, Rekor keys).",
            dir_okay=False,
        ),
    ] = None,
    annotation: AnnotationsOpt = None,
    signature_repo: SigRepoOpt = None,
    identity: Annotated[
        str | None,
        typer.Option("--identity", help="Expected docker-reference (default: the image's repository)."),
    ] = None,
    ignore_identity: Annotated[
        bool, typer.Option("--ignore-identity", help="Do not check the payload's docker-reference.")
    ] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Verify IMAGE's cosign signatures (public keys, or keyless offline); exit 1 with the reason if none verify."""
    from imgsec.signing.targets import open_target
    from imgsec.signing.verify import verify_signatures

    setup_logging(quiet)
    chosen = resolve_format(fmt, OUTPUT_FORMATS)
    if identity and ignore_identity:
        raise UsageError("--identity and --ignore-identity contradict each other")
    keyless = _keyless_policy(certificate_identity, certificate_oidc_issuer, trusted_root)
    verifiers = [load_public_key_file(p) for p in key or []]
    if not verifiers and keyless is None:
        raise UsageError(
            "give a public key with --key, or a keyless signer with --certificate-identity, "
            "--certificate-oidc-issuer and --trusted-root"
        )
    registry = _registry_options(username, password_stdin, ca_cert, insecure)
    with open_target(image, registry=registry, signature_repo=_signature_repo(signature_repo, config)) as res:
        expected = None if ignore_identity else (identity or res.target.identity)
        good = verify_signatures(
            res.store,
            res.target,
            verifiers,
            expected_identity=expected,
            annotations=_annotations(annotation),
            keyless=keyless,
        )
    if not quiet:
        err_console.print(
            f"Verified {len(good)} signature(s) on {image} ({res.target.digest}): signature over the payload "
            f"({'key or ' if verifiers else ''}{'keyless certificate, Rekor SET' if keyless else 'given key'}), signed digest, payload type{', docker-reference' if expected else ''}"
            f"{', annotations' if annotation else ''}",
            markup=False,
        )
    if chosen == "json":
        write_output(_json([dict(v.payload.document) for v in good]), output)
    else:
        lines = [
            f"{v.payload.docker_reference}@{v.payload.digest}  key={v.key}  "
            f"optional={json.dumps(v.payload.optional, ensure_ascii=False)}"
            for v in good
        ]
        write_output("\n".join(lines) + "\n", output)


@handle_errors
def attest(
    image: ImageArg,
    key: SignKeyOpt,
    predicate: Annotated[Path, typer.Option("--predicate", help="Predicate file (JSON).", dir_okay=False)],
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            help="cyclonedx, spdxjson, spdx, vuln, slsaprovenance, slsaprovenance1, link, custom or a URI.",
        ),
    ] = "custom",
    signature_repo: SigRepoOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    config: ConfigOpt = None,
    identity: Annotated[
        str | None,
        typer.Option("--identity", help="Subject name (default: the image's repository; needed for oci:)."),
    ] = None,
) -> None:
    """Attach a signed in-toto attestation (DSSE) to IMAGE at tag sha256-<hex>.att."""
    from imgsec.signing.payload import MAX_ATTESTATION_SIZE, resolve_predicate_type

    setup_logging(quiet)
    chosen = resolve_format(fmt, OUTPUT_FORMATS)
    resolve_predicate_type(type_)
    try:
        with predicate.open("rb") as fh:
            raw = fh.read(MAX_ATTESTATION_SIZE + 1)
    except OSError as exc:
        raise InputError(f"cannot read predicate {predicate}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_ATTESTATION_SIZE:
        raise InputError(f"predicate {predicate} is larger than {MAX_ATTESTATION_SIZE // (1024 * 1024)} MiB")
    result = attach_attestation(
        image,
        key,
        raw,
        type_,
        _registry_options(username, password_stdin, ca_cert, insecure),
        signature_repo=_signature_repo(signature_repo, config),
        identity=identity,
        quiet=quiet,
    )
    doc = {"image": image, "digest": result.digest, "attestation": result.location, "added": result.added}
    if chosen == "json":
        write_output(_json(doc), output)
    else:
        write_output(f"{image}@{result.digest} -> {result.location}\n", output)


@handle_errors
def verify_attestation(
    image: ImageArg,
    key: VerifyKeysOpt,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only attestations of this predicate type (name or URI).")
    ] = None,
    signature_repo: SigRepoOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    username: UsernameOpt = None,
    password_stdin: PasswordStdinOpt = False,
    ca_cert: CaCertOpt = None,
    insecure: InsecureOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Verify IMAGE's attestations (DSSE signature, subject digest, predicate type) and print them."""
    from imgsec.signing.payload import resolve_predicate_type
    from imgsec.signing.targets import open_target
    from imgsec.signing.verify import verify_attestations

    setup_logging(quiet)
    chosen = resolve_format(fmt, OUTPUT_FORMATS)
    wanted = resolve_predicate_type(type_) if type_ else None
    verifiers = _load_verifiers(key)
    registry = _registry_options(username, password_stdin, ca_cert, insecure)
    with open_target(image, registry=registry, signature_repo=_signature_repo(signature_repo, config)) as res:
        good = verify_attestations(res.store, res.target, verifiers, predicate_type=wanted)
    if not quiet:
        err_console.print(
            f"Verified {len(good)} attestation(s) on {image} ({res.target.digest}): DSSE signature with the given "
            f"key, subject digest{', predicate type' if wanted else ''}",
            markup=False,
        )
    if chosen == "json":
        write_output(_json([dict(a.statement.document) for a in good]), output)
    else:
        lines = [f"{a.statement.predicate_type}  key={a.key}  layer={a.layer_digest}" for a in good]
        write_output("\n".join(lines) + "\n", output)


def register(app: typer.Typer) -> None:
    key_app = typer.Typer(help="Manage signing keys (cosign-compatible).", no_args_is_help=True)
    key_app.command("generate")(key_generate)
    app.add_typer(key_app, name="key")
    app.command("sign")(sign)
    app.command("verify")(verify)
    app.command("attest")(attest)
    app.command("verify-attestation")(verify_attestation)
