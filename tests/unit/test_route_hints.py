"""Path hints are a promise the layer reader relies on: a route never wants a path its hints exclude.

A broken promise would silently drop packages, so it is checked against every path of the real
test images, plus paths each format allows that those images happen not to contain.
"""

from __future__ import annotations

from pathlib import Path

from imgsec.image.layers import _Router, read_layers
from imgsec.image.sources import open_image
from imgsec.sbom.catalog import routes_for
from imgsec.sbom.catalogers import default_catalogers
from imgsec.sbom.catalogers.base import FileInfo, PathHints
from tests.fixtures.images import FixtureImage
from tests.unit.test_layers import KEEP_ALL

EXTRA_PATHS = [
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/base",
    "var/lib/dpkg/status.d/base.md5sums",
    "lib/apk/db/installed",
    "usr/lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
    "usr/lib/python3/dist-packages/SIX-1.16.0.DIST-INFO/METADATA",
    "usr/lib/python3/site-packages/foo.egg-info/PKG-INFO",
    "usr/lib/python3/site-packages/foo-1.0-py3.egg-info",
    "package.json",
    "app/node_modules/left-pad/package.json",
    "usr/local/bundle/specifications/rake-13.0.gemspec",
    "specifications/rake-13.0.gemspec",
    "etc/os-release",
    "usr/lib/os-release",
    "etc/alpine-release",
    "usr/share/doc/libc6/copyright",
    "usr/share/doc/my.pkg+x/copyright",
]


def _image_paths(image: FixtureImage) -> set[str]:
    opened = open_image(f"oci:{image.layout}:{image.tag}")
    return {p for layer in read_layers(opened, [KEEP_ALL]) for p in layer.non_dirs}


def test_no_route_wants_a_path_its_hints_exclude(
    bookworm_image: FixtureImage, langs_image: FixtureImage
) -> None:
    paths = _image_paths(bookworm_image) | _image_paths(langs_image) | set(EXTRA_PATHS)
    assert len(paths) > 10_000
    routes = routes_for(default_catalogers())
    hinted = [(r, h) for r in routes if isinstance(h := getattr(r, "hints", None), PathHints)]
    assert len(hinted) >= 7  # the path-based catalogers, distro files and copyright files
    wanted_somewhere = 0
    for path in paths:
        for mode in (0o644, 0o755):
            info = FileInfo(path, mode, 1234, None)
            for route, hints in hinted:
                if route.wants(info):
                    wanted_somewhere += 1
                    assert hints.may_want(path), f"{route.name} wants {path} but its hints exclude it"
    assert wanted_somewhere > 100  # the check above did look at wanted files


def test_router_picks_the_same_routes_as_asking_every_route(bookworm_image: FixtureImage) -> None:
    routes = routes_for(default_catalogers())
    router = _Router(routes)
    for path in sorted(_image_paths(bookworm_image) | set(EXTRA_PATHS)):
        for mode, size in ((0o644, 10), (0o755, 10), (0o644, 1 << 20)):
            info = FileInfo(path, mode, size, None)
            assert {r.name for r in router.interested(info)} == {r.name for r in routes if r.wants(info)}, (
                path
            )


def test_hints_on_a_custom_route_are_honoured(tmp_path: Path) -> None:
    from imgsec.image.layers import FunctionRoute

    # A route whose hints exclude a path it would want is not asked about that path: hints are
    # the route's own promise, so the reader trusts them (this is why the tests above exist).
    route = FunctionRoute(
        name="x", wants_fn=lambda info: True, analyze_fn=lambda i, c: [c], hints=PathHints(suffixes=(".txt",))
    )
    router = _Router([route])
    assert router.interested(FileInfo("a/b.txt", 0o644, 1, None)) == [route]
    assert router.interested(FileInfo("a/b.bin", 0o644, 1, None)) == []
