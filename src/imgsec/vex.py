"""VEX documents (OpenVEX 0.2.0 and CycloneDX VEX) as suppressions of vulnerability findings.

A statement suppresses a finding when all three hold:

- **vulnerability**: the statement's id (OpenVEX ``vulnerability.name``, its ``@id`` IRI or an alias;
  CycloneDX ``vulnerabilities[].id`` or a ``references[].id``) equals the finding's id or an alias;
- **product**: a product purl matches the finding's package purl, with the purl matching rules the
  VEX community settled on (openvex/spec issue 27, as Trivy applies them): a purl without a version
  matches every version, one without qualifiers matches any qualifiers, and every qualifier it does
  name must be equal.  A product naming an image (``pkg:oci/...``) covers all of the image's
  packages, or, when it lists ``subcomponents``, only those -- but only when it names the scanned
  image (see :class:`ImageIdentity`): a statement about another image never hides a finding;
- **status** says the finding does not apply: OpenVEX ``not_affected``/``fixed``; CycloneDX
  ``analysis.state`` ``not_affected``/``false_positive``/``resolved``/``resolved_with_pedigree``.

VEX is a sequence of statements, the later overriding the earlier (OpenVEX spec, "Inheritance
Flow"): a later ``affected``/``under_investigation`` (``exploitable``/``in_triage``) statement about
the same vulnerability and package cancels an earlier suppression.  "Later" is the statement's
timestamp (inherited from the document when absent), then the order of files and statements.

Related ids: a finding from an advisory that names the CVEs it fixes as *related* (a Debian ELTS
``ELA-...`` record, ``VulnerabilityFinding.related``) is suppressed by statements naming those CVEs
only when every related CVE is suppressed (by statements or ignore rules together, each judged as
a finding with that CVE id and the same package); one still ``affected`` or without a statement
keeps the advisory reported.  See :meth:`imgsec.suppression.Suppressions.suppresses`.

A product that is not an image but lists subcomponents ("module B does not reach the flaw in its
dependency C") needs a dependency graph to be applied safely; the SBOM has none, so such statements
are not applied (see Trivy's "Applying VEX to Dependency Trees" for why a package reached through
two parents must stay reported).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from packageurl import PackageURL

from imgsec.errors import InputError
from imgsec.findings import Finding, FindingKind
from imgsec.image.sources import LOCAL_TRANSPORTS
from imgsec.reference import DEFAULT_REGISTRY, parse_reference
from imgsec.sbom.formats._common import Fields
from imgsec.sbom.model import ImageSummary

log = logging.getLogger(__name__)

#: Largest VEX document read; real ones are a few KiB to a few MiB.
MAX_VEX_SIZE = 32 * 1024 * 1024
_MAX_DEPTH = 64
OPENVEX_CONTEXT_PREFIX = "https://openvex.dev/ns"

OPENVEX_STATUSES = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
OPENVEX_SUPPRESSING = frozenset({"not_affected", "fixed"})
CYCLONEDX_STATES = frozenset(
    {"resolved", "resolved_with_pedigree", "exploitable", "in_triage", "false_positive", "not_affected"}
)
CYCLONEDX_SUPPRESSING = frozenset({"not_affected", "false_positive", "resolved", "resolved_with_pedigree"})
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ImageIdentity:
    """What a ``pkg:oci`` product must name to cover the scanned image.

    The OCI purl (purl-spec ``oci`` type, as Trivy and Grype apply it to VEX): the version is a
    digest, ``repository_url`` the repository without tag, the name its last path segment, and
    ``arch`` the platform.  Each part a product gives must agree with the image; a product that
    gives neither a digest nor a repository the image is known by names no image in particular
    and is not applied (fail closed).
    """

    digests: frozenset[str] = frozenset()
    repositories: frozenset[str] = frozenset()
    architecture: str | None = None

    @classmethod
    def of(cls, image: ImageSummary) -> ImageIdentity:
        digests = {image.manifest_digest} if image.manifest_digest else set()
        repositories: set[str] = set()
        for repo_digest in image.repo_digests:
            name, _, digest = repo_digest.rpartition("@")
            if digest:
                digests.add(digest)
            if repo := _repository(name):
                repositories.add(repo)
        if not image.name.startswith(LOCAL_TRANSPORTS) and (repo := _repository(image.name)):
            repositories.add(repo)
        return cls(frozenset(digests), frozenset(repositories), image.architecture)


def _repository(text: str) -> str | None:
    """``registry/repository`` of a reference or repository URL, normalised; None if it is not one."""
    text = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if text.startswith("index.docker.io/"):
        text = DEFAULT_REGISTRY + text[len("index.docker.io") :]
    try:
        return parse_reference(text, default_tag=False).name
    except InputError:
        return None


@dataclass(frozen=True)
class PurlPattern:
    """A purl as a VEX product names it; ``None`` fields match anything."""

    type: str
    namespace: str | None
    name: str
    version: str | None
    qualifiers: tuple[tuple[str, str], ...]
    subpath: str | None

    @classmethod
    def parse(cls, text: str) -> PurlPattern | None:
        if text[:4].lower() != "pkg:":
            return None
        try:
            p = PackageURL.from_string("pkg:" + text[4:])
        except ValueError:
            return None
        quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
        # imgsec's own CycloneDX bom-refs append package-id=<hash> to the purl; it is not a qualifier.
        quals = {k: v for k, v in quals.items() if k != "package-id"}
        return cls(p.type, p.namespace, p.name, p.version, tuple(sorted(quals.items())), p.subpath)

    @property
    def is_image(self) -> bool:
        return self.type == "oci"

    def names_image(self, image: ImageIdentity) -> bool:
        """Whether this ``pkg:oci`` purl names ``image`` (see :class:`ImageIdentity`)."""
        quals = dict(self.qualifiers)
        named = False
        if self.version is not None:
            if unquote(self.version).lower() not in image.digests:
                return False
            named = True
        if "repository_url" in quals:
            repo = _repository(quals["repository_url"])
            if repo is None or repo not in image.repositories:
                return False
            named = True
        if image.repositories:
            if self.name.lower() not in {r.rsplit("/", 1)[-1] for r in image.repositories}:
                return False
            named = named or bool(image.repositories)
        arch = quals.get("arch")
        if arch is not None and image.architecture is not None and arch != image.architecture:
            return False
        return named

    def matches(self, other: PurlPattern) -> bool:
        """Whether the package ``other`` (a concrete purl) is covered by this pattern."""
        if (self.type, self.namespace, self.name) != (other.type, other.namespace, other.name):
            return False
        if self.version is not None and unquote(self.version) != unquote(other.version or ""):
            return False
        if self.subpath is not None and self.subpath != other.subpath:
            return False
        theirs = dict(other.qualifiers)
        return all(theirs.get(k) == v for k, v in self.qualifiers)


@dataclass(frozen=True)
class Product:
    purls: tuple[PurlPattern, ...]
    subcomponents: tuple[PurlPattern, ...] = ()
    has_subcomponents: bool = False

    def names_image(self, image: ImageIdentity) -> bool:
        return any(p.is_image and p.names_image(image) for p in self.purls)

    def covers(self, package: PurlPattern, image: ImageIdentity) -> bool:
        if self.has_subcomponents:
            # Only an image product can scope subcomponents without a dependency graph.
            if not self.names_image(image):
                return False
            return any(s.matches(package) for s in self.subcomponents)
        return any(p.names_image(image) if p.is_image else p.matches(package) for p in self.purls)


@dataclass(frozen=True)
class VexStatement:
    """One VEX statement: vulnerability ids, products, status, and where it came from."""

    ids: frozenset[str]
    products: tuple[Product, ...]
    status: str
    justification: str | None
    source: str
    format: str  # "openvex" or "cyclonedx"
    timestamp: datetime | None = None
    order: tuple[int, int] = (0, 0)  # (file index, statement index)
    #: Later statements about the same vulnerability that do not suppress (e.g. ``affected``).
    overridden_by: tuple[VexStatement, ...] = field(default=(), compare=False, repr=False)

    @property
    def suppressing(self) -> bool:
        allowed = OPENVEX_SUPPRESSING if self.format == "openvex" else CYCLONEDX_SUPPRESSING
        return self.status in allowed

    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.timestamp or _EPOCH, *self.order)

    def applies_to(self, finding: Finding, image: ImageIdentity) -> bool:
        """Whether this statement talks about ``finding`` in ``image`` (vulnerability and product), any status."""
        if finding.kind != FindingKind.VULNERABILITY:
            return False
        ids = {finding.id, *getattr(finding, "aliases", ())}
        if not self.ids & ids:
            return False
        purl_text = getattr(finding, "purl", "")
        package = PurlPattern.parse(purl_text) if purl_text else None
        if package is None:
            # No package identity: only a statement about the whole image can speak for it.
            return any(not p.has_subcomponents and p.names_image(image) for p in self.products)
        return any(p.covers(package, image) for p in self.products)

    def suppresses(self, finding: Finding, image: ImageIdentity) -> str | None:
        """``vex: <status> (<justification>) from <file>`` when this statement suppresses ``finding``."""
        if not self.suppressing or not self.applies_to(finding, image):
            return None
        if any(later.applies_to(finding, image) for later in self.overridden_by):
            return None
        why = f" ({self.justification})" if self.justification else ""
        return f"vex: {self.status}{why} from {self.source}"


# --- reading ------------------------------------------------------------------------------------


def load_vex(paths: Iterable[Path]) -> list[VexStatement]:
    """Every statement of the given OpenVEX / CycloneDX VEX files, newest first.

    Raises :class:`InputError` (one line) on a missing, oversized, malformed or unknown document.
    """
    statements: list[VexStatement] = []
    for file_index, path in enumerate(paths):
        doc = _read_json(Path(path))
        source = str(path)
        if isinstance(doc, dict) and isinstance(doc.get("@context"), str):
            statements.extend(_openvex(doc, source, file_index))
        elif isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
            statements.extend(_cyclonedx(doc, source, file_index))
        else:
            raise InputError(
                f"VEX file {source}: neither OpenVEX (an '@context' of {OPENVEX_CONTEXT_PREFIX}/...) "
                "nor CycloneDX (bomFormat CycloneDX); pass an OpenVEX or CycloneDX VEX JSON document"
            )
    return _link_overrides(statements)


def _link_overrides(statements: list[VexStatement]) -> list[VexStatement]:
    ordered = sorted(statements, key=VexStatement.sort_key, reverse=True)
    out: list[VexStatement] = []
    for i, st in enumerate(ordered):
        newer = tuple(o for o in ordered[:i] if not o.suppressing and o.ids & st.ids)
        out.append(dataclasses.replace(st, overridden_by=newer) if st.suppressing and newer else st)
    return out


def _read_json(path: Path) -> Any:
    what = f"VEX file {path}"
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_VEX_SIZE + 1)
    except FileNotFoundError:
        raise InputError(f"{what} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_VEX_SIZE:
        raise InputError(f"{what} is larger than {MAX_VEX_SIZE // (1024 * 1024)} MiB; not a VEX document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: not UTF-8 text (byte {exc.start}); VEX documents are UTF-8 JSON") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply; not a VEX document") from None
    except ValueError as exc:
        raise InputError(f"{what}: malformed JSON: {str(exc)[:120]}") from None
    if _too_deep(doc):
        raise InputError(f"{what}: JSON nested more than {_MAX_DEPTH} levels deep; not a VEX document")
    return doc


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _too_deep(doc: Any) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


_FRACTION_RE = re.compile(r"(\.\d{1,6})\d*")


def _timestamp(value: str | None, where: str, what: str) -> datetime | None:
    if not value:
        return None
    # Go writes RFC 3339 with nanoseconds (vexctl does); Python reads at most microseconds.
    text = _FRACTION_RE.sub(r"\1", value.strip(), count=1).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what}: {where} {value[:60]!r} is not an RFC 3339 timestamp") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _purls_of(component: Fields) -> tuple[PurlPattern, ...]:
    """The purls naming an OpenVEX component: its ``@id`` and ``identifiers.purl``."""
    out: list[PurlPattern] = []
    texts = [component.opt_string("@id")]
    identifiers = component.opt_obj("identifiers")
    if identifiers is not None:
        texts.append(identifiers.opt_string("purl"))
    for text in texts:
        if text:
            parsed = PurlPattern.parse(text)
            if parsed is not None:
                out.append(parsed)
            else:
                log.debug("%s: %s %r is not a purl; ignored", component.what, component.where, text)
    return tuple(out)


def _vuln_ids(vuln: Fields) -> set[str]:
    ids = {vuln.string("name"), *vuln.strings("aliases")}
    iri = vuln.opt_string("@id")
    if iri:
        ids.add(iri)
        # https://nvd.nist.gov/vuln/detail/CVE-2021-44228 names CVE-2021-44228.
        tail = iri.rstrip("/").rsplit("/", 1)[-1]
        if tail:
            ids.add(unquote(tail))
    return {i.strip() for i in ids if i.strip()}


def _openvex(doc: dict[str, Any], source: str, file_index: int) -> list[VexStatement]:
    what = f"VEX file {source}"
    top = Fields(doc, "document", what)
    context = top.string("@context")
    if not context.startswith(OPENVEX_CONTEXT_PREFIX):
        raise InputError(
            f"{what}: @context {context[:80]!r} is not OpenVEX ({OPENVEX_CONTEXT_PREFIX}/v0.2.0); "
            "pass an OpenVEX or CycloneDX VEX document"
        )
    doc_time = _timestamp(top.opt_string("timestamp"), "timestamp", what)
    out: list[VexStatement] = []
    for i, st in enumerate(top.objs("statements")):
        status = st.string("status")
        if status not in OPENVEX_STATUSES:
            raise InputError(
                f"{what}: {st.where}.status {status[:40]!r} is not an OpenVEX status "
                f"({', '.join(sorted(OPENVEX_STATUSES))})"
            )
        products = []
        for prod in st.objs("products"):
            subs = prod.objs("subcomponents")
            products.append(
                Product(
                    _purls_of(prod),
                    tuple(p for s in subs for p in _purls_of(s)),
                    has_subcomponents=bool(subs),
                )
            )
        if not products:
            log.warning("%s: %s has no products; OpenVEX statements need one to apply", what, st.where)
        justification = st.opt_string("justification") or _short(st.opt_string("impact_statement"))
        when = _timestamp(st.opt_string("timestamp"), f"{st.where}.timestamp", what) or doc_time
        out.append(
            VexStatement(
                frozenset(_vuln_ids(st.obj("vulnerability"))),
                tuple(products),
                status,
                justification,
                source,
                "openvex",
                when,
                (file_index, i),
            )
        )
    return out


def _short(text: str | None, limit: int = 100) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bom_refs(doc: Fields) -> dict[str, str]:
    """bom-ref -> purl of every component (nested ones too) of a CycloneDX document."""
    refs: dict[str, str] = {}
    stack = list(doc.objs("components"))
    meta = doc.opt_obj("metadata")
    if meta is not None and meta.has("component"):
        stack.append(meta.obj("component"))
    seen = 0
    while stack:
        comp = stack.pop()
        seen += 1
        if seen > 1_000_000:
            raise InputError(f"{doc.what}: more than a million components; not a VEX document")
        ref, purl = comp.opt_string("bom-ref"), comp.opt_string("purl")
        if ref and purl:
            refs[ref] = purl
        stack.extend(comp.objs("components"))
    return refs


def _ref_purl(ref: str, refs: dict[str, str]) -> PurlPattern | None:
    # A BOM-Link (urn:cdx:<serial>/<version>#<bom-ref>) names a bom-ref in another BOM.
    if ref.startswith("urn:cdx:") and "#" in ref:
        ref = unquote(ref.split("#", 1)[1])
    return PurlPattern.parse(refs.get(ref, ref))


def _cyclonedx(doc: dict[str, Any], source: str, file_index: int) -> list[VexStatement]:
    what = f"VEX file {source}"
    top = Fields(doc, "document", what)
    refs = _bom_refs(top)
    meta = top.opt_obj("metadata")
    doc_time = _timestamp(meta.opt_string("timestamp"), "metadata.timestamp", what) if meta else None
    out: list[VexStatement] = []
    for i, vuln in enumerate(top.objs("vulnerabilities")):
        analysis = vuln.opt_obj("analysis")
        if analysis is None or not analysis.has("state"):
            continue  # a vulnerability record without an analysis says nothing about exploitability
        state = analysis.string("state")
        if state not in CYCLONEDX_STATES:
            raise InputError(
                f"{what}: {analysis.where}.state {state[:40]!r} is not a CycloneDX impact analysis state "
                f"({', '.join(sorted(CYCLONEDX_STATES))})"
            )
        ids = {vuln.string("id")}
        ids.update(r.string("id") for r in vuln.objs("references"))
        products = []
        for affect in vuln.objs("affects"):
            ref = affect.string("ref")
            purl = _ref_purl(ref, refs)
            if purl is None:
                log.warning(
                    "%s: %s.ref %r names no purl or known bom-ref; ignored", what, affect.where, ref[:80]
                )
                continue
            products.append(Product((purl,)))
        when = None
        for key in ("lastUpdated", "firstIssued"):
            when = when or _timestamp(analysis.opt_string(key), f"{analysis.where}.{key}", what)
        for key in ("updated", "published", "created"):
            when = when or _timestamp(vuln.opt_string(key), f"{vuln.where}.{key}", what)
        justification = analysis.opt_string("justification") or _short(analysis.opt_string("detail"))
        out.append(
            VexStatement(
                frozenset(x.strip() for x in ids if x.strip()),
                tuple(products),
                state,
                justification,
                source,
                "cyclonedx",
                when or doc_time,
                (file_index, i),
            )
        )
    return out


def statements_for(
    statements: Sequence[VexStatement], finding: Finding, image: ImageIdentity
) -> list[VexStatement]:
    """The statements that talk about ``finding`` in ``image`` (any status): for reports."""
    return [s for s in statements if s.applies_to(finding, image)]
