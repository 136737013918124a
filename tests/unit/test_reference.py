"""Reference parsing follows the Docker/distribution reference grammar and normalisation."""

from __future__ import annotations

import pytest

from imgsec.errors import InvalidReferenceError
from imgsec.reference import parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        # Docker Hub shorthand: official images live under library/.
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("library/nginx", "docker.io", "library/nginx", "latest", None),
        ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("index.docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        # A first component with '.' or ':' or equal to localhost is a registry.
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None),
        ("ghcr.io/org/team/app:1.0", "ghcr.io", "org/team/app", "1.0", None),
        ("registry.example.com:443/a/b", "registry.example.com:443", "a/b", "latest", None),
        ("127.0.0.1:5000/x/y", "127.0.0.1:5000", "x/y", "latest", None),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("[2001:db8::1]/app:t", "[2001:db8::1]", "app", "t", None),
        # Digests: with or without a tag; no default tag when pinned.
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, DIGEST),
        (f"nginx:1.25@{DIGEST}", "docker.io", "library/nginx", "1.25", DIGEST),
        (f"host:5000/team/app@{DIGEST}", "host:5000", "team/app", None, DIGEST),
        # Separators inside path components.
        ("foo/a.b_c__d-e--f:tag_1.0-rc", "docker.io", "foo/a.b_c__d-e--f", "tag_1.0-rc", None),
    ],
)
def test_parse_and_normalise(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Nginx", "lowercase"),
        ("docker.io/Library/nginx", "lowercase"),
        ("nginx:", "invalid"),
        ("nginx:-bad", "tag"),
        ("nginx:" + "a" * 129, "tag"),
        ("nginx@sha256:abc", "digest"),
        ("nginx@sha256:" + "A" * 64, "digest"),
        ("a" * 64, "64-hex"),
        ("foo//bar", "invalid"),
        ("foo/-bar", "invalid"),
        ("foo/bar_", "invalid"),
        ("foo/bar/", "invalid"),
        ("-host.com/app", "invalid"),
        ("nginx latest", "whitespace"),
        ("host:port/app", "invalid"),
    ],
)
def test_rejects_invalid_with_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError) as exc:
        parse_reference(text)
    assert why in str(exc.value)


def test_name_length_limit() -> None:
    # distribution caps the full name at 255 characters.
    parse_reference("x.io/" + "a" * 250)
    with pytest.raises(InvalidReferenceError, match="longer than 255"):
        parse_reference("x.io/" + "a" * 251)


def test_string_forms() -> None:
    ref = parse_reference("nginx:1.25")
    assert str(ref) == "docker.io/library/nginx:1.25"
    assert ref.familiar_name == "nginx"
    assert ref.api_host == "registry-1.docker.io"
    pinned = ref.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/nginx:1.25@{DIGEST}"
    assert parse_reference(str(pinned)) == pinned
    assert parse_reference("localhost:5000/app").familiar_name == "localhost:5000/app"


def test_no_default_tag_when_asked() -> None:
    assert parse_reference("nginx", default_tag=False).tag is None
