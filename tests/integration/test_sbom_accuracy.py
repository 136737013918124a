"""imgsec finds the same (type, name, version) packages as syft 1.18 on real images.

syft is the reference: it runs here on the very same OCI layouts.  Its output is cached per
image (keyed by the manifest digest) so a re-run costs only imgsec's own time.
"""

from __future__ import annotations

import pytest

from imgsec.image.sources import open_image
from imgsec.sbom.catalog import catalog_image
from tests.fixtures.images import FixtureImage
from tests.helpers.syft import syft_document

pytestmark = pytest.mark.integration


# Package types syft reports that imgsec deliberately does not model: syft's "binary" classifier
# guesses versions of well-known executables (python, node, busybox...) from their bytes; imgsec
# reports packages only from package metadata, and Go/Rust binaries from their embedded build info.
NOT_MODELLED = {"binary"}

Key = tuple[str, str, str]


def syft_packages(image: FixtureImage) -> set[Key]:
    doc = syft_document(image)
    return {(a["type"], a["name"], a["version"]) for a in doc["artifacts"] if a["type"] not in NOT_MODELLED}


def imgsec_packages(spec: str) -> set[Key]:
    sbom = catalog_image(open_image(spec))
    return {(str(p.type), p.name, p.version) for p in sbom.packages}


def test_bookworm_matches_syft(bookworm_image: FixtureImage) -> None:
    expected = syft_packages(bookworm_image)
    assert {t for t, _, _ in expected} == {"deb"}
    assert len(expected) > 80
    assert imgsec_packages(f"oci:{bookworm_image.layout}:{bookworm_image.tag}") == expected


def test_every_ecosystem_matches_syft(langs_image: FixtureImage) -> None:
    expected = syft_packages(langs_image)
    ours = imgsec_packages(f"oci:{langs_image.layout}:{langs_image.tag}")
    # The fixture holds each ecosystem imgsec catalogs in images; each must be present and agree.
    for kind in ("deb", "python", "npm", "go-module", "java-archive", "gem", "rust-crate"):
        theirs_k = {k for k in expected if k[0] == kind}
        ours_k = {k for k in ours if k[0] == kind}
        assert theirs_k, f"syft found no {kind} packages: the fixture lost an ecosystem"
        assert ours_k == theirs_k, f"{kind}: only syft {theirs_k - ours_k}, only imgsec {ours_k - theirs_k}"
    assert ours == expected


def test_layer_semantics_match_syft(tricky_image: FixtureImage) -> None:
    # Upgraded, deleted and re-added packages across layers: the squashed view must agree.
    assert imgsec_packages(f"oci:{tricky_image.layout}:{tricky_image.tag}") == syft_packages(tricky_image)


def test_every_source_format_gives_the_same_sbom(bookworm_image: FixtureImage) -> None:
    layout = imgsec_packages(f"oci:{bookworm_image.layout}:{bookworm_image.tag}")
    assert bookworm_image.oci_archive and bookworm_image.docker_archive and bookworm_image.rootfs
    assert imgsec_packages(f"oci-archive:{bookworm_image.oci_archive}") == layout
    assert imgsec_packages(f"docker-archive:{bookworm_image.docker_archive}") == layout
    assert imgsec_packages(f"dir:{bookworm_image.rootfs}") == layout


def test_layers_that_introduced_packages(langs_image: FixtureImage) -> None:
    sbom = catalog_image(open_image(f"oci:{langs_image.layout}:{langs_image.tag}"))
    diff_ids = [layer.diff_id for layer in sbom.image.layers]
    by_type: dict[str, set[int]] = {}
    for p in sbom.packages:
        assert p.layer in diff_ids
        by_type.setdefault(str(p.type), set()).add(diff_ids.index(p.layer))
    # The base layer holds the Debian packages; each language layer was added later.
    assert by_type["deb"] == {0}
    for kind in ("python", "npm", "go-module", "java-archive", "gem", "rust-crate"):
        assert min(by_type[kind]) > 0, kind
