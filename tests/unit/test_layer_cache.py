"""The per-layer cache: a re-scan reads no blob, results are identical, hostile cache files are ignored."""

from __future__ import annotations

import json
from pathlib import Path

from imgsec.image.cache import CACHE_SCHEMA, LayerCache
from imgsec.image.config_checks import check_image, config_route
from imgsec.image.layers import LayerResult, read_layers, squash
from imgsec.image.sources import open_image
from imgsec.sbom.catalog import assemble, routes_for
from imgsec.sbom.catalogers import default_catalogers
from imgsec.sbom.model import SBOM
from imgsec.secrets import secret_route
from tests.unit.ocihelp import Entry, make_tar, write_layout

STATUS = b"Package: zlib1g\nStatus: install ok installed\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n"
LAYERS = [
    make_tar([Entry("etc/os-release", b"ID=debian\nVERSION_ID=12\n"), Entry("var/lib/dpkg/status", STATUS)]),
    make_tar(
        [
            Entry(
                "app/node_modules/lodash/package.json",
                json.dumps({"name": "lodash", "version": "4.17.4"}).encode(),
            ),
            Entry("app/.env", b"GITHUB_TOKEN=ghp_" + b"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A" + b"\n"),
        ]
    ),
    make_tar([Entry("app/.wh..env")]),
]


def _sbom(spec: str, cache: LayerCache | None) -> tuple[SBOM, list[LayerResult]]:
    cats = default_catalogers()
    routes = [*routes_for(cats), secret_route()]
    image = open_image(spec)
    layers = read_layers(image, routes, cache=cache)
    return assemble(image, layers, cats), layers


def test_rescan_reads_no_blob_and_gives_the_same_results(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    spec = f"oci:{tmp_path / 'img'}:t"
    cache = LayerCache(tmp_path / "cache")
    cold, cold_layers = _sbom(spec, cache)
    # Remove every layer blob: a warm scan must not need them.
    manifest_layers = [p for p in (tmp_path / "img" / "blobs" / "sha256").iterdir() if p.stat().st_size > 0]
    sizes = {p: p.read_bytes() for p in manifest_layers}
    for p in manifest_layers:
        if p.read_bytes()[:2] == b"\x1f\x8b":
            p.unlink()
    warm, warm_layers = _sbom(spec, cache)
    assert warm == cold
    # Equal is not enough: a StrEnum member and its string compare equal, but code keyed on the enum breaks.
    assert [(type(p.type), type(p.locations)) for p in warm.packages] == [
        (type(p.type), type(p.locations)) for p in cold.packages
    ]
    assert [sorted(r.results) for r in warm_layers] == [sorted(r.results) for r in cold_layers]
    assert squash(warm_layers).results.keys() == squash(cold_layers).results.keys()
    assert sizes  # the layout really had blobs to remove


def test_another_route_set_misses_then_merges(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    cache = LayerCache(tmp_path / "cache")
    cats = default_catalogers()
    read_layers(image, routes_for(cats), cache=cache)
    diff_id = image.layers[1].diff_id
    assert diff_id is not None
    names = [r.name for r in routes_for(cats)]
    assert cache.get(diff_id, names) is not None
    assert cache.get(diff_id, [*names, "secrets"]) is None
    read_layers(image, [*routes_for(cats), secret_route()], cache=cache)
    assert cache.get(diff_id, [*names, secret_route().name]) is not None


def test_hostile_or_corrupt_cache_files_are_ignored(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    spec = f"oci:{tmp_path / 'img'}:t"
    cache = LayerCache(tmp_path / "cache")
    expected, _ = _sbom(spec, None)
    _sbom(spec, cache)
    files = list((tmp_path / "cache").rglob("*.json"))
    assert files
    for f in files:
        doc = json.loads(f.read_text())
        # A cache entry naming a class outside the allowlist must never be instantiated.
        for found in doc["routes"].values():
            for path in found:
                found[path] = [{"dc": "subprocess:Popen", "f": {"args": ["touch", str(tmp_path / "pwned")]}}]
        f.write_text(json.dumps(doc))
    again, _ = _sbom(spec, cache)
    assert again == expected
    assert not (tmp_path / "pwned").exists()
    for f in files:
        f.write_bytes(b"\x00not json")
    assert _sbom(spec, cache)[0] == expected


DIR_LAYERS = [
    make_tar(
        [
            Entry("var/lib/dpkg/status", STATUS),
            Entry("app/", kind="dir", mode=0o777),
            Entry("tmp/", kind="dir", mode=0o1777),
            Entry("srv/", kind="dir", mode=0o777),
            Entry("srv/www/", kind="dir", mode=0o777),
        ]
    ),
    make_tar([Entry("srv/", kind="dir", mode=0o755), Entry(".wh.srv")]),  # re-declared, then deleted
    make_tar([Entry("data/", kind="dir", mode=0o777), Entry("data/.wh..wh..opq")]),
]


def _dir_findings(spec: str, cache: LayerCache | None) -> list[tuple[str, str | None, str | None, str]]:
    image = open_image(spec)
    layers = read_layers(image, [config_route()], cache=cache)
    return sorted((f.id, f.path, f.layer, f.detail) for f in check_image(image, layers))


def test_warm_scan_reports_the_same_world_writable_directories(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", DIR_LAYERS)
    spec = f"oci:{tmp_path / 'img'}:t"
    cache = LayerCache(tmp_path / "cache")
    cold = _dir_findings(spec, cache)
    assert [(i, p) for i, p, _, _ in cold if i == "IS-IMG-010"] == [
        ("IS-IMG-010", "app"),
        ("IS-IMG-010", "data"),
    ]
    for blob in (tmp_path / "img" / "blobs" / "sha256").iterdir():
        if blob.read_bytes()[:2] == b"\x1f\x8b":
            blob.unlink()  # a warm scan must not need the layers
    assert _dir_findings(spec, cache) == cold


def test_cache_entries_without_or_with_bad_directory_modes_are_misses(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", DIR_LAYERS)
    spec = f"oci:{tmp_path / 'img'}:t"
    cache = LayerCache(tmp_path / "cache")
    expected = _dir_findings(spec, None)
    _dir_findings(spec, cache)
    files = sorted((tmp_path / "cache").rglob("*.json"))
    assert len(files) == len(DIR_LAYERS)
    for bad in (None, {"app": "0777"}, {"app": True}, {"app": -1}, {"app": 0o17777}, ["app"]):
        for f in files:
            doc = json.loads(f.read_text())
            if bad is None:
                del doc["common"]["dir_modes"]  # what an entry of the previous format looks like
            else:
                doc["common"]["dir_modes"] = bad
            f.write_text(json.dumps(doc))
        image = open_image(spec)
        assert all(cache.get(lr.diff_id or "", [config_route().name]) is None for lr in image.layers)
        assert _dir_findings(spec, cache) == expected  # read again from the blobs, and re-cached


def test_old_schema_entries_are_never_read(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", DIR_LAYERS)
    spec = f"oci:{tmp_path / 'img'}:t"
    cache = LayerCache(tmp_path / "cache")
    _dir_findings(spec, cache)
    for f in (tmp_path / "cache").rglob("*.json"):
        doc = json.loads(f.read_text())
        doc["schema"] = CACHE_SCHEMA - 1  # an entry written by an imgsec before directory modes
        f.write_text(json.dumps(doc))
    image = open_image(spec)
    assert all(cache.get(lr.diff_id or "", [config_route().name]) is None for lr in image.layers)
