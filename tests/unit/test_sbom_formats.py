"""SBOM writers (imgsec JSON, CycloneDX 1.6, SPDX 2.3, table) and the format-detecting reader."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsec.errors import InputError, UsageError
from imgsec.sbom.formats import FORMATS, read_sbom, render
from imgsec.sbom.formats._common import canonical
from imgsec.sbom.formats.native import from_json, to_json
from imgsec.sbom.model import SBOM, Distro, ImageSummary, LayerSummary, Location, Package, PackageType

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "src" / "imgsec" / "data" / "sbom.schema.json"
PINNED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
DIFF0 = "sha256:" + "a" * 64
DIFF1 = "sha256:" + "b" * 64
MANIFEST = "sha256:" + "1" * 64


def sample_sbom() -> SBOM:
    image = ImageSummary(
        name="docker.io/library/debian:12",
        manifest_digest=MANIFEST,
        config_digest="sha256:" + "2" * 64,
        os="linux",
        architecture="amd64",
        layers=(
            LayerSummary(
                0, "sha256:" + "3" * 64, DIFF0, "application/vnd.oci.image.layer.v1.tar+gzip", 100, "ADD x /"
            ),
            LayerSummary(1, "sha256:" + "4" * 64, DIFF1, "application/vnd.oci.image.layer.v1.tar+gzip", 200),
        ),
        repo_digests=("docker.io/library/debian@" + MANIFEST,),
        user="1000",
        labels=(("org.opencontainers.image.title", "demo"),),
    )
    packages = (
        Package(
            name="libssl3",
            version="3.0.11-1~deb12u2",
            type=PackageType.DEB,
            purl="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
            source_name="openssl",
            source_version="3.0.11-1~deb12u2",
            licenses=("Apache-2.0",),
            locations=(Location("var/lib/dpkg/status", DIFF0),),
            layer=DIFF0,
            arch="amd64",
        ),
        Package(
            name="requests",
            version="2.31.0",
            type=PackageType.PYTHON,
            purl="pkg:pypi/requests@2.31.0",
            licenses=("Apache 2.0",),
            locations=(Location("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", DIFF1),),
            layer=DIFF1,
            metadata=(("sitePackagesRootPath", "usr/lib/python3/dist-packages"),),
        ),
        Package(
            name="lodash",
            version="4.17.21",
            type=PackageType.NPM,
            purl="pkg:npm/lodash@4.17.21",
            licenses=("MIT",),
            locations=(Location("app/node_modules/lodash/package.json", DIFF1),),
            layer=DIFF1,
        ),
    )
    distro = Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)", ())
    return SBOM(image=image, distro=distro, packages=packages)


# --- imgsec JSON -------------------------------------------------------------------------------


def test_native_round_trip_is_exact() -> None:
    sbom = sample_sbom()
    text = to_json(sbom, created=PINNED)
    assert from_json(text) == canonical(sbom)
    assert to_json(from_json(text), created=PINNED) == text


def test_native_validates_against_published_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(to_json(sample_sbom(), created=PINNED))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["format"] == "imgsec-sbom"
    assert doc["schemaVersion"].startswith("1.")
    assert doc["created"] == "2024-01-02T03:04:05Z"
    no_distro = json.loads(to_json(dataclasses.replace(sample_sbom(), distro=None, packages=())))
    jsonschema.Draft202012Validator(schema).validate(no_distro)


def test_native_output_is_byte_identical_whatever_the_package_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    sbom = sample_sbom()
    shuffled = list(sbom.packages)
    random.Random(7).shuffle(shuffled)
    first = to_json(sbom)
    assert to_json(dataclasses.replace(sbom, packages=tuple(reversed(shuffled)))) == first
    # 1700000000 seconds after the epoch is 2023-11-14 22:13:20 UTC.
    assert json.loads(first)["created"] == "2023-11-14T22:13:20Z"
    names = [p["name"] for p in json.loads(first)["packages"]]
    assert names == ["libssl3", "lodash", "requests"]  # by type (deb < npm < python), then name


def test_bad_source_date_epoch_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(InputError, match="SOURCE_DATE_EPOCH"):
        to_json(sample_sbom())


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_digest = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
_pairs = st.lists(st.tuples(_text, _text), max_size=3).map(tuple)
_packages = st.builds(
    Package,
    name=_text,
    version=_text,
    type=st.sampled_from(list(PackageType)),
    purl=_text.map(lambda s: "pkg:generic/" + s),
    source_name=st.none() | _text,
    source_version=st.none() | _text,
    licenses=st.lists(_text, max_size=3).map(tuple),
    locations=st.lists(st.builds(Location, path=_text, layer=st.none() | _digest), max_size=3).map(tuple),
    layer=st.none() | _digest,
    arch=st.none() | _text,
    metadata=_pairs,
)
_sboms = st.builds(
    SBOM,
    image=st.builds(
        ImageSummary,
        name=_text,
        manifest_digest=st.none() | _digest,
        config_digest=st.none() | _digest,
        os=st.none() | _text,
        architecture=st.none() | _text,
        variant=st.none() | _text,
        layers=st.lists(
            st.builds(
                LayerSummary,
                index=st.integers(0, 100),
                digest=_digest,
                diff_id=st.none() | _digest,
                media_type=_text,
                size=st.integers(0, 2**40),
                created_by=st.none() | _text,
            ),
            max_size=3,
        ).map(tuple),
        repo_digests=st.lists(_text, max_size=2).map(tuple),
        user=st.none() | _text,
        labels=_pairs,
    ),
    distro=st.none()
    | st.builds(
        Distro,
        id=_text,
        version_id=st.none() | _text,
        version_codename=st.none() | _text,
        pretty_name=st.none() | _text,
        id_like=st.lists(_text, max_size=2).map(tuple),
    ),
    packages=st.lists(_packages, max_size=5).map(tuple),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sboms)
def test_native_round_trips_any_sbom(sbom: SBOM) -> None:
    text = to_json(sbom, created=PINNED)
    back = from_json(text)
    assert back == canonical(sbom)
    assert to_json(back, created=PINNED) == text
    assert read_sbom(text.encode()) == back


# --- CycloneDX ---------------------------------------------------------------------------------


def _cdx(sbom: SBOM | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render(sbom or sample_sbom(), "cyclonedx", created=PINNED))
    return doc


def test_cyclonedx_is_valid_against_official_1_6_schema() -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = render(sample_sbom(), "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    empty = render(SBOM(image=sample_sbom().image, distro=None), "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(empty) is None


def test_cyclonedx_describes_the_image_as_a_container() -> None:
    doc = _cdx()
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    assert doc["metadata"]["timestamp"].startswith("2024-01-02T03:04:05")
    image = doc["metadata"]["component"]
    assert image["type"] == "container"
    assert image["version"] == MANIFEST
    # purl spec, oci type: the last path segment as name, digest as version, repository_url qualifier.
    assert image["purl"].startswith("pkg:oci/debian@sha256")
    assert "repository_url=docker.io/library/debian" in image["purl"]
    tools = doc["metadata"]["tools"]["components"]
    assert [(t["name"], t["version"]) for t in tools] == [("imgsec", __import__("imgsec").__version__)]


def test_cyclonedx_components_packages_and_operating_system() -> None:
    doc = _cdx()
    comps = doc["components"]
    refs = [c["bom-ref"] for c in comps]
    assert len(refs) == len(set(refs))
    os_comps = [c for c in comps if c["type"] == "operating-system"]
    assert [(c["name"], c["version"]) for c in os_comps] == [("debian", "12")]
    libs = {c["name"]: c for c in comps if c["type"] == "library"}
    assert set(libs) == {"libssl3", "requests", "lodash"}
    assert libs["lodash"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert libs["requests"]["licenses"] == [{"license": {"name": "Apache 2.0"}}]  # not an SPDX id
    props = {p["name"]: p["value"] for p in libs["libssl3"]["properties"]}
    assert props["imgsec:layer"] == DIFF0
    assert props["imgsec:location:0:path"] == "var/lib/dpkg/status"
    assert props["imgsec:package:type"] == "deb"
    assert libs["libssl3"]["purl"] == sample_sbom().packages[0].purl
    # Every component hangs off the image in the dependency graph.
    root = next(d for d in doc["dependencies"] if d["ref"] == doc["metadata"]["component"]["bom-ref"])
    assert set(root["dependsOn"]) == set(refs)


def test_identical_packages_get_distinct_bom_refs() -> None:
    sbom = sample_sbom()
    doubled = dataclasses.replace(sbom, packages=sbom.packages + sbom.packages[:1])
    refs = [c["bom-ref"] for c in _cdx(doubled)["components"]]
    assert len(refs) == len(set(refs)) == 5


def test_cyclonedx_reads_back_what_it_wrote() -> None:
    sbom = sample_sbom()
    back = read_sbom(render(sbom, "cyclonedx").encode())
    assert back.image == sbom.image
    assert back.distro == sbom.distro
    assert back.packages == canonical(sbom).packages


def test_cyclonedx_reproducible_with_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    a = render(sample_sbom(), "cyclonedx")
    b = render(sample_sbom(), "cyclonedx")
    assert json.loads(a)["serialNumber"] != json.loads(b)["serialNumber"]  # unique per run by default
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render(sample_sbom(), "cyclonedx") == render(sample_sbom(), "cyclonedx")


# --- SPDX --------------------------------------------------------------------------------------


def _spdx_validate(text: str) -> list[str]:
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = JsonLikeDictParser().parse(json.loads(text))  # type: ignore[no-untyped-call]
    return [m.validation_message for m in validate_full_spdx_document(document)]


def test_spdx_is_valid_for_spdx_tools() -> None:
    text = render(sample_sbom(), "spdx")
    assert _spdx_validate(text) == []
    assert _spdx_validate(render(SBOM(image=sample_sbom().image, distro=None), "spdx")) == []


def test_spdx_document_structure() -> None:
    doc = json.loads(render(sample_sbom(), "spdx", created=PINNED))
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["creationInfo"]["created"] == "2024-01-02T03:04:05Z"
    by_name = {p["name"]: p for p in doc["packages"]}
    image = by_name["docker.io/library/debian:12"]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["versionInfo"] == MANIFEST
    # SPDX 2.3 spells the purposes and categories with a hyphen (spec clause 7.24, annex F).
    assert by_name["debian"]["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    refs = by_name["libssl3"]["externalRefs"]
    assert refs == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": sample_sbom().packages[0].purl,
        }
    ]
    assert by_name["libssl3"]["licenseDeclared"] == "Apache-2.0"
    # "Apache 2.0" is no SPDX expression: a LicenseRef whose text the document carries (clause 10)
    assert by_name["requests"]["licenseDeclared"] == "LicenseRef-Apache-2.0"
    assert doc["hasExtractedLicensingInfos"] == [
        {"licenseId": "LicenseRef-Apache-2.0", "extractedText": "Apache 2.0", "name": "Apache 2.0"}
    ]
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    rels = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]
    }
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", image["SPDXID"]) in rels
    for pid in ids:
        if pid != image["SPDXID"]:
            assert (image["SPDXID"], "CONTAINS", pid) in rels


def test_spdx_namespace_unique_per_run_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    a = json.loads(render(sample_sbom(), "spdx"))["documentNamespace"]
    b = json.loads(render(sample_sbom(), "spdx"))["documentNamespace"]
    assert a != b
    assert a.startswith("https://")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render(sample_sbom(), "spdx") == render(sample_sbom(), "spdx")


def test_spdx_reads_back_packages_and_sources() -> None:
    sbom = sample_sbom()
    back = read_sbom(render(sbom, "spdx").encode())
    assert back.image.manifest_digest == MANIFEST
    assert back.distro is not None and (back.distro.id, back.distro.version_id) == ("debian", "12")
    want = [
        (p.name, p.version, p.type, p.purl, p.source_name, p.licenses, p.locations)
        for p in canonical(sbom).packages
    ]
    got = [(p.name, p.version, p.type, p.purl, p.source_name, p.licenses, p.locations) for p in back.packages]
    assert got == want


def test_spdx_license_expressions() -> None:
    from imgsec.sbom.formats.spdx import license_expression

    assert license_expression(("MIT",)) == "MIT"
    assert license_expression(("mit",)) == "MIT"
    assert license_expression(("MIT OR Apache-2.0", "BSD-3-Clause")) == "(MIT OR Apache-2.0) AND BSD-3-Clause"
    assert license_expression(("MIT", "not a license")) is None
    assert license_expression(("MIT AND",)) is None
    assert license_expression(()) is None


def test_spdx_license_refs_validate_as_a_whole_document(tmp_path: Path) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    base = sample_sbom()
    odd = ("GPL v2 or later", "Apache 2.0", "Apache-2.0", "Apache/2.0", "MIT", "")
    packages = tuple(dataclasses.replace(p, licenses=odd) for p in base.packages)
    path = tmp_path / "doc.spdx.json"
    path.write_text(render(dataclasses.replace(base, packages=packages), "spdx"))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    declared = {
        str(p.license_declared)
        for p in document.packages
        if p.primary_package_purpose is not None and p.name not in ("debian",) and p.version != MANIFEST
    }
    refs = {info.license_id: info.extracted_text for info in document.extracted_licensing_info}
    # one id per distinct text, the same text always the same id, valid ids kept as they are
    assert sorted(str(v) for v in refs.values()) == ["Apache 2.0", "Apache/2.0", "GPL v2 or later"]
    assert len(set(refs)) == 3
    assert all("Apache-2.0" in d and "MIT" in d for d in declared)


# --- table ---------------------------------------------------------------------------------------


def test_table_lists_packages_sorted_with_layer_index_and_summary() -> None:
    out = render(sample_sbom(), "table", width=100)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "TYPE", "LAYER"]
    rows = [line.split() for line in lines[2:5]]
    assert rows == [
        ["libssl3", "3.0.11-1~deb12u2", "deb", "0"],
        ["lodash", "4.17.21", "npm", "1"],
        ["requests", "2.31.0", "python", "1"],
    ]
    assert lines[-1] == "3 packages, distro: Debian GNU/Linux 12 (bookworm)"
    assert all(len(line) <= 100 for line in lines)
    assert "\x1b" not in out


def test_table_does_not_interpret_markup_or_control_characters() -> None:
    evil = Package(
        name="[bold red]x[/bold red]\x1b[2J", version="1", type=PackageType.NPM, purl="pkg:npm/x@1"
    )
    out = render(SBOM(image=sample_sbom().image, distro=None, packages=(evil,)), "table", width=80)
    assert "[bold red]x[/bold red]\\x1b[2J" in out
    assert "\x1b" not in out
    assert out.splitlines()[-1] == "1 package, distro: unknown distro"


def test_unknown_format_is_a_usage_error() -> None:
    assert set(FORMATS) == {"table", "json", "cyclonedx", "spdx"}
    with pytest.raises(UsageError, match="unknown SBOM format"):
        render(sample_sbom(), "xml")


# --- hostile input -------------------------------------------------------------------------------


def _valid_native() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(to_json(sample_sbom(), created=PINNED))
    return doc


def _with(path: list[str | int], value: Any) -> bytes:
    doc = _valid_native()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "malformed JSON"),
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"a": NaN}', "malformed JSON"),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b"[" * 100000 + b"]" * 100000, "nested"),
        (b"1" * 5000, "malformed JSON"),
        (b'<?xml version="1.0"?><bom/>', "XML"),
        (b"SPDXVersion: SPDX-2.3\n", "tag-value"),
        (b'{"spdxVersion": "SPDX-3.0"}', "SPDX 2.2 and 2.3"),
        (b'{"hello": "world"}', "not a recognised SBOM"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "2.0"}', "specVersion"),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {}}',
            "components must be an array",
        ),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [3]}',
            r"components\[0\] must be an object",
        ),
        (b'{"spdxVersion": "SPDX-2.3", "packages": [{"name": 5}]}', "name must be a string"),
        (
            b'{"artifacts": [{"name": []}], "schema": {"url": "https://x/anchore/syft/schema"}}',
            "must be a string",
        ),
        (_with(["packages"], "nope"), "packages must be an array"),
        (_with(["packages", 0, "type"], "cobol"), "not a known package type"),
        (_with(["packages", 0, "name"], None), r"packages\[0\]\.name must be a string"),
        (_with(["image", "layers", 0, "size"], -1), "must not be negative"),
        (_with(["image", "layers", 0, "size"], "big"), "size must be an integer"),
        (_with(["schemaVersion"], "2.0"), "not supported"),
        (_with(["image"], None), "image must be an object"),
    ],
)
def test_hostile_documents_give_one_line_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        read_sbom(data)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 400


def test_file_errors_and_size_cap(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_sbom(tmp_path / "missing.json")
    with pytest.raises(InputError, match="is a directory"):
        read_sbom(tmp_path)
    big = tmp_path / "big.json"
    with big.open("wb") as f:  # sparse: costs no disk, but its size is over the cap
        f.truncate(257 * 1024 * 1024)
    with pytest.raises(InputError, match="MiB limit"):
        read_sbom(big)
    good = tmp_path / "sbom.json"
    good.write_text(to_json(sample_sbom(), created=PINNED))
    assert read_sbom(good) == canonical(sample_sbom())
    assert read_sbom(str(good)) == canonical(sample_sbom())


def test_reader_accepts_a_bom_with_leading_byte_order_mark() -> None:
    text = to_json(sample_sbom(), created=PINNED)
    assert read_sbom(b"\xef\xbb\xbf" + text.encode()) == canonical(sample_sbom())


def test_cyclonedx_1_4_document_with_expression_and_nested_components() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "version": 1,
        "components": [
            {
                "type": "application",
                "name": "app",
                "version": "1.0",
                "purl": "pkg:npm/app@1.0",
                "licenses": [{"expression": "MIT OR Apache-2.0"}],
                "components": [
                    {
                        "type": "library",
                        "name": "left-pad",
                        "version": "1.3.0",
                        "purl": "pkg:npm/left-pad@1.3.0",
                    }
                ],
            },
            {"type": "library", "name": "kernel-thing", "version": "1", "purl": "pkg:generic/kernel-thing@1"},
            {
                "type": "library",
                "name": "libcrypto3",
                "version": "3.1.4-r5",
                "purl": "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl",
            },
        ],
    }
    sbom = read_sbom(json.dumps(doc).encode())
    assert [(p.name, p.type) for p in sbom.packages] == [
        ("app", PackageType.NPM),
        ("left-pad", PackageType.NPM),
        ("libcrypto3", PackageType.APK),
    ]
    assert sbom.packages[0].licenses == ("MIT OR Apache-2.0",)
    assert (sbom.packages[2].source_name, sbom.packages[2].source_version) == ("openssl", "3.1.4-r5")
    assert sbom.packages[2].arch == "x86_64"
    assert sbom.distro == Distro("alpine", "3.19.1")


def test_rpm_upstream_source_rpm_is_split_into_name_and_version() -> None:
    doc = {
        "spdxVersion": "SPDX-2.2",
        "packages": [
            {
                "SPDXID": "SPDXRef-a",
                "name": "openssl-libs",
                "versionInfo": "1:3.0.7-27.el9",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE_MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"
                        "&distro=rhel-9.4&upstream=openssl-3.0.7-27.el9.src.rpm",
                    }
                ],
            }
        ],
    }
    (pkg,) = read_sbom(json.dumps(doc).encode()).packages
    assert (pkg.type, pkg.source_name, pkg.source_version) == (PackageType.RPM, "openssl", "1:3.0.7-27.el9")
    assert read_sbom(json.dumps(doc).encode()).distro == Distro("rhel", "9.4")


@pytest.mark.parametrize(
    "name", ["oci-archive:img.tar", "docker-archive:img.tar", "oci:layout:t", "dir:rootfs"]
)
def test_local_sources_get_no_registry_purl(name: str) -> None:
    local = dataclasses.replace(sample_sbom(), image=dataclasses.replace(sample_sbom().image, name=name))
    doc = _cdx(local)
    assert "purl" not in doc["metadata"]["component"]
    assert doc["metadata"]["component"]["version"] == MANIFEST


def test_writers_handle_an_sbom_without_digest_or_distro() -> None:
    local = SBOM(
        image=ImageSummary(
            name="oci:/tmp/layout:t", manifest_digest=None, config_digest=None, os=None, architecture=None
        ),
        distro=None,
        packages=sample_sbom().packages,
    )
    for fmt in ("json", "cyclonedx", "spdx"):
        back = read_sbom(render(local, fmt).encode())
        assert [p.name for p in back.packages] == [p.name for p in canonical(local).packages], fmt
    assert _spdx_validate(render(local, "spdx")) == []
    assert "pkg:oci" not in render(local, "cyclonedx")
    assert io.StringIO(render(local, "table")).read().endswith("3 packages, distro: unknown distro\n")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _nodes(v, (*path, i))
    return out


_VALID_DOCS = {
    fmt: json.loads(render(sample_sbom(), fmt, created=PINNED)) for fmt in ("json", "cyclonedx", "spdx")
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_VALID_DOCS)), st.data(), _json_values)
def test_any_corruption_of_a_valid_document_is_read_or_refused_cleanly(
    fmt: str, data: Any, value: Any
) -> None:
    doc = json.loads(json.dumps(_VALID_DOCS[fmt]))
    path = data.draw(st.sampled_from(_nodes(doc)[1:]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        result = read_sbom(json.dumps(doc).encode())
    except InputError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(result, SBOM)
