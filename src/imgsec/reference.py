"""Image references, parsed and normalised by the Docker/distribution reference grammar.

``nginx`` is ``docker.io/library/nginx:latest``; ``host:5000/team/app@sha256:...`` keeps its
registry.  Everything downstream takes a :class:`Reference`, never a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from imgsec.errors import InvalidReferenceError

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRIES = frozenset({"index.docker.io", "registry-1.docker.io"})
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# The grammar of github.com/distribution/reference (regexp.go), composed the same way.
_ALPHANUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUM}(?:{_SEPARATOR}{_ALPHANUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_ANCHORED_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_SHA512_RE = re.compile(r"^sha512:[a-f0-9]{128}$")


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256/sha512 digest, else raise."""
    if _SHA256_RE.match(digest) or _SHA512_RE.match(digest):
        return digest
    raise InvalidReferenceError(
        f"invalid digest {digest!r}: expected sha256:<64 lowercase hex> (or sha512:<128 hex>)"
    )


@dataclass(frozen=True, order=True)
class Reference:
    """A normalised image reference: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``, the fully qualified name."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The short form Docker shows: ``nginx`` for ``docker.io/library/nginx``."""
        if self.registry == DEFAULT_REGISTRY:
            repo = self.repository
            if repo.startswith(OFFICIAL_REPO_PREFIX) and repo.count("/") == 1:
                repo = repo[len(OFFICIAL_REPO_PREFIX) :]
            return repo
        return self.name

    @property
    def api_host(self) -> str:
        """The host the distribution API is served from."""
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def identifier(self) -> str:
        """The digest if present, else the tag (``latest`` when neither was given)."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=validate_digest(digest))

    def with_tag(self, tag: str | None) -> Reference:
        return replace(self, tag=tag)

    def without_digest(self) -> Reference:
        return replace(self, digest=None)

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    # Mirrors splitDockerDomain: the first component is a registry only if it looks like one.
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_REGISTRY, name
    else:
        domain, remainder = first, name[i + 1 :]
    if domain in LEGACY_DEFAULT_REGISTRIES:
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference, raising :class:`InvalidReferenceError` with the reason.

    With ``default_tag`` a reference with neither tag nor digest gets ``latest``, as ``docker pull`` does.
    """
    if not text:
        raise InvalidReferenceError("invalid image reference: empty string")
    if len(text) > 4096 or any(c.isspace() for c in text):
        raise InvalidReferenceError(
            f"invalid image reference {text[:80]!r}: contains whitespace or is too long"
        )
    if _IDENTIFIER_RE.match(text):
        raise InvalidReferenceError(
            f"invalid image reference {text!r}: a bare 64-hex image ID is not a reference; "
            "use NAME@sha256:<hex>"
        )
    name_part = text
    tag: str | None = None
    digest: str | None = None
    if "@" in name_part:
        name_part, _, digest = name_part.partition("@")
    # A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
    slash = name_part.rfind("/")
    colon = name_part.rfind(":")
    if colon > slash:
        name_part, tag = name_part[:colon], name_part[colon + 1 :]
    domain, remainder = _split_domain(name_part)
    if remainder.lower() != remainder:
        raise InvalidReferenceError(f"invalid image reference {text!r}: repository name must be lowercase")
    canonical = f"{domain}/{remainder}"
    if tag is not None:
        canonical += f":{tag}"
    if digest is not None:
        canonical += f"@{digest}"
    if not _REFERENCE_RE.match(canonical) or not _ANCHORED_DOMAIN_RE.match(domain):
        raise InvalidReferenceError(_explain(text, domain, remainder, tag, digest))
    if not _ANCHORED_PATH_RE.match(remainder):
        raise InvalidReferenceError(_explain(text, domain, remainder, tag, digest))
    if len(f"{domain}/{remainder}") > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(
            f"invalid image reference {text[:80]!r}: repository name longer than {NAME_TOTAL_LENGTH_MAX}"
        )
    if digest is not None:
        validate_digest(digest)
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(registry=domain, repository=remainder, tag=tag, digest=digest)


def _explain(text: str, domain: str, remainder: str, tag: str | None, digest: str | None) -> str:
    if tag is not None and not re.match(rf"^{_TAG}$", tag):
        why = (
            f"invalid tag {tag!r} (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"
        )
    elif digest is not None and not re.match(rf"^{_DIGEST}$", digest):
        why = f"invalid digest {digest!r}"
    elif not _ANCHORED_DOMAIN_RE.match(domain):
        why = f"invalid registry host {domain!r}"
    else:
        why = (
            f"invalid repository {remainder!r} (lowercase letters, digits and separators '.', '_', '__', '-', "
            "components separated by '/')"
        )
    return f"invalid image reference {text!r}: {why}"
