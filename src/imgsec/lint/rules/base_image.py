"""Base-image rules: where the base comes from, how it is pinned, and whether it is minimal."""

from __future__ import annotations

from collections.abc import Iterator

from imgsec.errors import InvalidReferenceError
from imgsec.lint.config import LintConfig
from imgsec.lint.images import suggest_minimal, toolchain_replacement
from imgsec.lint.model import Hit, Rule, Severity
from imgsec.lint.parse import Dockerfile, Instruction, Stage, expand
from imgsec.lint.rules.common import hit
from imgsec.reference import LEGACY_DEFAULT_REGISTRIES, Reference, parse_reference

GROUP = "base-image"


def image_stages(df: Dockerfile) -> Iterator[tuple[Stage, Reference]]:
    for stage in df.stages:
        if stage.base_ref is not None:
            yield stage, stage.base_ref


def copy_from_images(df: Dockerfile) -> Iterator[tuple[Instruction, Reference]]:
    """``COPY --from=IMAGE``: sources that are images, not stages."""
    for stage in df.stages:
        for instr in stage.instructions:
            if instr.keyword not in ("COPY", "ADD"):
                continue
            source = instr.flag("from")
            if not source or df.stage_by_ref(source) is not None:
                continue
            text, missing = expand(source, df.variables(stage, instr))
            if text is None or missing:
                continue
            try:
                yield instr, parse_reference(text, default_tag=False)
            except InvalidReferenceError:
                continue


def _normalise_registry(entry: str) -> str:
    entry = entry.lower()
    host, sep, rest = entry.partition("/")
    if host in LEGACY_DEFAULT_REGISTRIES:
        host = "docker.io"
    return host + sep + rest


def is_trusted(ref: Reference, trusted: tuple[str, ...]) -> bool:
    """``ref`` comes from one of ``trusted`` (a registry host, or a ``host/namespace`` prefix)."""
    for raw in trusted:
        entry = _normalise_registry(raw)
        if "/" in entry:
            if ref.name == entry or ref.name.startswith(entry + "/"):
                return True
        elif ref.registry == entry:
            return True
    return False


def check_untrusted_registry(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    if not cfg.trusted_registries:
        return
    allowed = ", ".join(cfg.trusted_registries)
    for stage, ref in image_stages(df):
        if not is_trusted(ref, cfg.trusted_registries):
            yield hit(
                stage.from_instruction, f"base image {ref} is from {ref.registry}, not one of: {allowed}"
            )
    for instr, ref in copy_from_images(df):
        if not is_trusted(ref, cfg.trusted_registries):
            yield hit(instr, f"COPY --from image {ref} is from {ref.registry}, not one of: {allowed}")


def check_untagged(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage, ref in image_stages(df):
        if ref.tag is None and ref.digest is None:
            yield hit(
                stage.from_instruction, f"base image {ref.familiar_name} has no tag: the build takes latest"
            )


def check_latest(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage, ref in image_stages(df):
        if ref.tag == "latest" and ref.digest is None:
            yield hit(stage.from_instruction, f"base image {ref.familiar_name}:latest changes under you")


def check_digest(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    if not cfg.require_digest:
        return
    for stage, ref in image_stages(df):
        if ref.digest is None and ref.tag is not None and ref.tag != "latest":
            yield hit(
                stage.from_instruction, f"base image {ref.familiar_name}:{ref.tag} is not pinned by digest"
            )


def check_minimal(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage in df.final_chain:
        ref = stage.base_ref
        if ref is None:
            continue
        suggestion = suggest_minimal(ref)
        if suggestion is None and not df.is_multi_stage:
            # In a multi-stage build a toolchain image in the final stage is IS-DF-010's finding.
            suggestion = toolchain_replacement(ref)
        if suggestion is not None:
            yield hit(
                stage.from_instruction, f"final image is based on {ref.familiar_name}; use {suggestion}"
            )


def check_unresolved(df: Dockerfile, cfg: LintConfig) -> Iterator[Hit]:
    for stage in df.stages:
        if stage.base is None:
            names = ", ".join(stage.unresolved)
            yield hit(
                stage.from_instruction,
                f"FROM {stage.base_text} uses {names} with no value at lint time; base-image rules skipped "
                f"for this stage (pass --build-arg {stage.unresolved[0]}=VALUE)",
            )


RULES = (
    Rule(
        "IS-DF-001",
        "untrusted-registry",
        Severity.HIGH,
        "Base image from a registry outside the trusted list",
        "Pull base images only from the registries listed in lint.trusted-registries (mirror the image there).",
        GROUP,
        check_untrusted_registry,
        hadolint=("DL3026",),
    ),
    Rule(
        "IS-DF-002",
        "untagged-base-image",
        Severity.MEDIUM,
        "Base image without a tag or digest",
        "Name an explicit version tag and pin it by digest: FROM image:1.2.3@sha256:...",
        GROUP,
        check_untagged,
        hadolint=("DL3006",),
    ),
    Rule(
        "IS-DF-003",
        "latest-base-image",
        Severity.MEDIUM,
        "Base image uses the latest tag",
        "Replace :latest with a version tag and pin it by digest (imgsec pin).",
        GROUP,
        check_latest,
        hadolint=("DL3007",),
    ),
    Rule(
        "IS-DF-004",
        "base-image-not-pinned",
        Severity.LOW,
        "Base image tag not pinned by digest",
        "Append the digest: FROM image:tag@sha256:... (imgsec pin does it); disable with lint.require-digest: false.",
        GROUP,
        check_digest,
    ),
    Rule(
        "IS-DF-005",
        "non-minimal-base-image",
        Severity.LOW,
        "Final image uses a full base image where a minimal variant exists",
        "Switch the final stage to the slim/alpine/distroless variant named in the message.",
        GROUP,
        check_minimal,
    ),
    Rule(
        "IS-DF-006",
        "unresolved-base-image",
        Severity.INFO,
        "Base image depends on a build argument without a default",
        "Give the ARG a default before FROM, or pass --build-arg NAME=VALUE to imgsec lint.",
        GROUP,
        check_unresolved,
    ),
)
