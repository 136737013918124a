"""VEX documents as suppressions: OpenVEX 0.2.0 (written by hand from the spec's field tables) and
CycloneDX VEX (written by cyclonedx-python-lib, the CycloneDX project's own serialiser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imgsec.errors import InputError
from imgsec.findings import Finding, FindingKind, FixStatus, Severity, VulnerabilityFinding
from imgsec.sbom.model import ImageSummary
from imgsec.suppression import load_suppressions
from imgsec.vex import ImageIdentity, load_vex

MANIFEST = "sha256:" + "ab" * 32
INDEX = "sha256:" + "cd" * 32
#: The scanned image: pulled by tag from a registry, a multi-platform index resolved to amd64.
SCANNED = ImageSummary(
    name="registry.example.com/team/app:1.0",
    manifest_digest=MANIFEST,
    config_digest=None,
    os="linux",
    architecture="amd64",
    repo_digests=(f"registry.example.com/team/app@{INDEX}",),
)

LIBSSL = VulnerabilityFinding(
    id="CVE-2024-5535",
    kind=FindingKind.VULNERABILITY,
    severity=Severity.CRITICAL,
    title="SSL_select_next_proto buffer overread",
    package_name="libssl3",
    package_version="3.0.9-1",
    package_type="deb",
    purl="pkg:deb/debian/libssl3@3.0.9-1?arch=amd64&distro=debian-12&upstream=openssl",
    status=FixStatus.FIXED,
    fixed_versions=("3.0.15-1~deb12u1",),
)
JINJA = VulnerabilityFinding(
    id="CVE-2024-56326",
    kind=FindingKind.VULNERABILITY,
    severity=Severity.HIGH,
    title="Jinja has a sandbox breakout",
    aliases=("GHSA-q2x7-8rv6-6q7h", "PYSEC-2026-1475"),
    package_name="jinja2",
    package_version="2.10",
    package_type="python",
    purl="pkg:pypi/jinja2@2.10",
)
SECRET = Finding(
    id="CVE-2024-5535", kind=FindingKind.SECRET, severity=Severity.HIGH, title="looks like a CVE id"
)


def openvex(statements: list[dict[str, Any]], timestamp: str = "2024-01-08T18:02:03-06:00") -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
        "author": "Example Security <security@example.com>",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }


def write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def reason(paths: list[Path], finding: Finding, image: ImageSummary = SCANNED) -> str | None:
    for st in load_vex(paths):
        why = st.suppresses(finding, ImageIdentity.of(image))
        if why is not None:
            return why
    return None


def test_openvex_not_affected_suppresses_with_the_documented_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "vex.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-5535"},
                    "products": [{"@id": "pkg:deb/debian/libssl3@3.0.9-1"}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ]
        ),
    )
    assert reason([path], LIBSSL) == f"vex: not_affected (vulnerable_code_not_in_execute_path) from {path}"
    assert reason([path], JINJA) is None  # other vulnerability, other package


@pytest.mark.parametrize(
    ("product", "applies"),
    [
        ("pkg:deb/debian/libssl3", True),  # no version: every version
        ("pkg:deb/debian/libssl3@3.0.9-1", True),  # no qualifiers: any qualifiers
        ("pkg:deb/debian/libssl3@3.0.9-1?arch=amd64", True),  # named qualifiers must be equal
        ("pkg:deb/debian/libssl3@3.0.9-1?arch=arm64", False),
        ("pkg:deb/debian/libssl3@3.0.9-1?arch=amd64&distro=debian-11", False),
        ("pkg:deb/debian/libssl3@3.0.13-1~deb12u1", False),  # another version
        ("pkg:deb/debian/openssl@3.0.9-1", False),  # the source package is another product
        ("pkg:deb/ubuntu/libssl3@3.0.9-1", False),
        ("pkg:rpm/debian/libssl3@3.0.9-1", False),
        ("not a purl", False),
    ],
)
def test_openvex_purl_matching_rules(tmp_path: Path, product: str, applies: bool) -> None:
    path = write(
        tmp_path,
        "v.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-5535"},
                    "products": [{"@id": product}],
                    "status": "fixed",
                }
            ]
        ),
    )
    assert (reason([path], LIBSSL) == f"vex: fixed from {path}") is applies
    assert (reason([path], LIBSSL) is not None) is applies


def test_pypi_names_are_compared_normalised(tmp_path: Path) -> None:
    # purl spec, pypi type: names are lowercased and '_' is '-'.
    path = write(
        tmp_path,
        "v.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-56326"},
                    "products": [{"identifiers": {"purl": "pkg:pypi/Jinja2@2.10"}}],
                    "status": "not_affected",
                    "impact_statement": "templates are never user-controlled",
                }
            ]
        ),
    )
    assert reason([path], JINJA) == f"vex: not_affected (templates are never user-controlled) from {path}"


@pytest.mark.parametrize(
    "vulnerability",
    [
        {"name": "GHSA-q2x7-8rv6-6q7h"},
        {"name": "JINJA-1", "aliases": ["PYSEC-2026-1475"]},
        {"@id": "https://nvd.nist.gov/vuln/detail/CVE-2024-56326", "name": "vendor-42"},
    ],
)
def test_vulnerability_matches_by_name_alias_or_iri(tmp_path: Path, vulnerability: dict[str, Any]) -> None:
    path = write(
        tmp_path,
        "v.json",
        openvex(
            [
                {
                    "vulnerability": vulnerability,
                    "products": [{"@id": "pkg:pypi/jinja2"}],
                    "status": "not_affected",
                    "justification": "component_not_present",
                }
            ]
        ),
    )
    assert reason([path], JINJA) == f"vex: not_affected (component_not_present) from {path}"


@pytest.mark.parametrize(("status", "suppresses"), [("affected", False), ("under_investigation", False)])
def test_openvex_statuses_that_keep_the_finding(tmp_path: Path, status: str, suppresses: bool) -> None:
    st: dict[str, Any] = {
        "vulnerability": {"name": "CVE-2024-5535"},
        "products": [{"@id": "pkg:deb/debian/libssl3"}],
        "status": status,
    }
    if status == "affected":
        st["action_statement"] = "upgrade to 3.0.15-1~deb12u1"
    assert reason([write(tmp_path, "v.json", openvex([st]))], LIBSSL) is None


def test_image_product_covers_every_package_and_subcomponents_narrow_it(tmp_path: Path) -> None:
    image = f"pkg:oci/app@{MANIFEST.replace(':', '%3A')}?repository_url=registry.example.com%2Fteam%2Fapp"
    whole = write(
        tmp_path,
        "whole.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-5535"},
                    "products": [{"@id": image}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ]
        ),
    )
    assert reason([whole], LIBSSL) is not None
    narrowed = write(
        tmp_path,
        "narrow.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-5535"},
                    "products": [{"@id": image, "subcomponents": [{"@id": "pkg:deb/debian/openssl"}]}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ]
        ),
    )
    openssl = VulnerabilityFinding(
        **{
            **LIBSSL.__dict__,
            "package_name": "openssl",
            "purl": "pkg:deb/debian/openssl@3.0.9-1?arch=amd64&distro=debian-12",
        }
    )
    assert reason([narrowed], LIBSSL) is None
    assert reason([narrowed], openssl) is not None


def test_package_product_with_subcomponents_needs_a_dependency_graph_so_is_not_applied(
    tmp_path: Path,
) -> None:
    # Trivy's "Applying VEX to Dependency Trees": a package reached through another parent stays
    # affected; imgsec's SBOM has no graph to tell, so the statement does not suppress.
    path = write(
        tmp_path,
        "v.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-56326"},
                    "products": [
                        {"@id": "pkg:pypi/flask@1.0", "subcomponents": [{"@id": "pkg:pypi/jinja2"}]}
                    ],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ]
        ),
    )
    assert reason([path], JINJA) is None


def _two(first: str, second: str) -> list[dict[str, Any]]:
    out = []
    for status, ts in ((first, "2024-01-01T00:00:00Z"), (second, "2024-02-01T00:00:00.123456789Z")):
        st: dict[str, Any] = {
            "vulnerability": {"name": "CVE-2024-5535"},
            "products": [{"@id": "pkg:deb/debian/libssl3"}],
            "status": status,
            "timestamp": ts,
        }
        if status == "not_affected":
            st["justification"] = "inline_mitigations_already_exist"
        if status == "affected":
            st["action_statement"] = "upgrade"
        out.append(st)
    return out


def test_a_later_statement_overrides_an_earlier_one(tmp_path: Path) -> None:
    # OpenVEX "Inheritance Flow": statements are a sequence in time, the later overriding the earlier.
    reinstated = write(tmp_path, "a.json", openvex(_two("not_affected", "affected")))
    assert reason([reinstated], LIBSSL) is None
    resolved = write(tmp_path, "b.json", openvex(_two("under_investigation", "not_affected")))
    assert (
        reason([resolved], LIBSSL) == f"vex: not_affected (inline_mitigations_already_exist) from {resolved}"
    )
    # Order in the list does not matter, the timestamps do.
    swapped = write(tmp_path, "c.json", openvex(list(reversed(_two("not_affected", "affected")))))
    assert reason([swapped], LIBSSL) is None


def test_vex_never_touches_non_vulnerability_findings(tmp_path: Path) -> None:
    image = "pkg:oci/app?repository_url=registry.example.com%2Fapp"
    path = write(
        tmp_path,
        "v.json",
        openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2024-5535"},
                    "products": [{"@id": image}],
                    "status": "fixed",
                }
            ]
        ),
    )
    assert reason([path], SECRET) is None


# --- CycloneDX VEX, written by cyclonedx-python-lib ------------------------------------------------


def cyclonedx_vex(state: str, ref_style: str, justification: str | None = "code_not_reachable") -> str:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
    from cyclonedx.model.vulnerability import BomTarget, Vulnerability, VulnerabilityAnalysis
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    purl = "pkg:pypi/jinja2@2.10"
    bom = Bom()
    comp = Component(
        type=ComponentType.LIBRARY,
        name="jinja2",
        version="2.10",
        purl=PackageURL.from_string(purl),
        bom_ref="comp-1",
    )
    ref = {
        "bom-ref": "comp-1",
        "purl": purl,
        "bom-link": f"urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#{purl}",
    }[ref_style]
    if ref_style == "bom-ref":
        bom.components.add(comp)
    bom.vulnerabilities.add(
        Vulnerability(
            id="GHSA-q2x7-8rv6-6q7h",
            analysis=VulnerabilityAnalysis(
                state=ImpactAnalysisState(state),
                justification=ImpactAnalysisJustification(justification) if justification else None,
                detail="the sandbox is not used",
            ),
            affects=[BomTarget(ref=ref)],
        )
    )
    if ref_style != "bom-ref":
        setattr(bom, "validate", lambda: True)  # noqa: B010 - a standalone VEX names refs of another BOM
    return JsonV1Dot6(bom).output_as_string()


@pytest.mark.parametrize("ref_style", ["bom-ref", "purl", "bom-link"])
def test_cyclonedx_not_affected(tmp_path: Path, ref_style: str) -> None:
    path = write(tmp_path, "vex.cdx.json", cyclonedx_vex("not_affected", ref_style))
    assert reason([path], JINJA) == f"vex: not_affected (code_not_reachable) from {path}"
    assert reason([path], LIBSSL) is None


@pytest.mark.parametrize(
    ("state", "suppresses"),
    [
        ("not_affected", True),
        ("false_positive", True),
        ("resolved", True),
        ("resolved_with_pedigree", True),
        ("exploitable", False),
        ("in_triage", False),
    ],
)
def test_cyclonedx_states(tmp_path: Path, state: str, suppresses: bool) -> None:
    path = write(tmp_path, "vex.cdx.json", cyclonedx_vex(state, "purl", justification=None))
    why = reason([path], JINJA)
    assert (why is not None) is suppresses
    if suppresses:
        assert why == f"vex: {state} (the sandbox is not used) from {path}"


def test_cyclonedx_without_analysis_says_nothing(tmp_path: Path) -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "vulnerabilities": [{"id": "CVE-2024-56326", "affects": [{"ref": "pkg:pypi/jinja2@2.10"}]}],
    }
    assert reason([write(tmp_path, "v.json", doc)], JINJA) is None


def test_suppressions_apply_vex_after_ignore_files(tmp_path: Path) -> None:
    vex = write(tmp_path, "vex.cdx.json", cyclonedx_vex("not_affected", "purl"))
    rules = load_suppressions([], [vex])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert rules.suppresses(JINJA, now, SCANNED) == f"vex: not_affected (code_not_reachable) from {vex}"
    assert rules.suppresses(LIBSSL, now, SCANNED) is None


# --- hostile documents: one InputError line, never a traceback -------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "malformed JSON at line 1"),
        ('{"a": NaN}', "malformed JSON"),
        ("[]", "neither OpenVEX"),
        ('{"@context": "https://example.com/ns"}', "is not OpenVEX"),
        (
            json.dumps(openvex([{"vulnerability": {"name": "X"}, "status": "maybe"}])),
            "is not an OpenVEX status",
        ),
        (
            json.dumps(openvex([{"vulnerability": "CVE-1", "status": "fixed"}])),
            "statements[0].vulnerability must be an object",
        ),
        (json.dumps(openvex([{"vulnerability": {"name": 5}, "status": "fixed"}])), ".name must be a string"),
        (json.dumps({**openvex([]), "statements": {}}), "statements must be an array"),
        (json.dumps(openvex([], timestamp="yesterday")), "is not an RFC 3339 timestamp"),
        (
            json.dumps(
                {"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "X", "analysis": {"state": "fine"}}]}
            ),
            "is not a CycloneDX impact analysis state",
        ),
        (
            json.dumps(
                {
                    "bomFormat": "CycloneDX",
                    "vulnerabilities": [
                        {"id": "X", "analysis": {"state": "not_affected"}, "affects": [{"ref": 3}]}
                    ],
                }
            ),
            ".ref must be a string",
        ),
        ("[" * 100 + "]" * 100, "nested"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_hostile_documents(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as info:
        load_vex([path])
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_vex([tmp_path / "nope.json"])
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(33 * 1024 * 1024)  # sparse: no real disk use
    with pytest.raises(InputError, match="larger than 32 MiB"):
        load_vex([big])


def _whole_image_statement(tmp_path: Path, product: str) -> Path:
    statement = {
        "vulnerability": {"name": "CVE-2024-5535"},
        "products": [{"@id": product}],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    return write(tmp_path, "image.json", openvex([statement]))


@pytest.mark.parametrize(
    ("product", "applies"),
    [
        # the OCI purl: digest as version, repository_url without tag, name = last path segment
        (f"pkg:oci/app@{MANIFEST.replace(':', '%3A')}", True),
        (f"pkg:oci/app@{INDEX.replace(':', '%3A')}", True),  # the index it was pulled by
        ("pkg:oci/app?repository_url=registry.example.com/team/app", True),
        ("pkg:oci/app?repository_url=https://registry.example.com/team/app/", True),
        ("pkg:oci/app", True),
        ("pkg:oci/app?arch=amd64", True),
        # another image: never hides a finding of this one
        (f"pkg:oci/app@sha256%3A{'ef' * 32}", False),
        ("pkg:oci/app?repository_url=registry.example.com/other/app", False),
        ("pkg:oci/other?repository_url=registry.example.com/team/app", False),
        ("pkg:oci/other", False),
        (f"pkg:oci/other@{MANIFEST.replace(':', '%3A')}", False),
        ("pkg:oci/app?arch=arm64", False),
    ],
)
def test_image_products_apply_only_to_the_image_they_name(
    tmp_path: Path, product: str, applies: bool
) -> None:
    assert (reason([_whole_image_statement(tmp_path, product)], LIBSSL) is not None) is applies


def test_a_local_layout_is_named_by_digest_only(tmp_path: Path) -> None:
    layout = ImageSummary(
        name="oci:/images/app:1.0",
        manifest_digest=MANIFEST,
        config_digest=None,
        os="linux",
        architecture="amd64",
    )
    by_digest = _whole_image_statement(tmp_path, f"pkg:oci/app@{MANIFEST.replace(':', '%3A')}")
    assert reason([by_digest], LIBSSL, layout) is not None
    # Without a repository, a name alone could be any image: fail closed.
    by_name = _whole_image_statement(tmp_path, "pkg:oci/app")
    assert reason([by_name], LIBSSL, layout) is None


def test_docker_hub_spellings_are_one_repository(tmp_path: Path) -> None:
    nginx = ImageSummary(
        name="nginx:1.27", manifest_digest=MANIFEST, config_digest=None, os="linux", architecture="amd64"
    )
    for url in ("docker.io/library/nginx", "index.docker.io/library/nginx", "docker.io/nginx"):
        path = _whole_image_statement(tmp_path, f"pkg:oci/nginx?repository_url={url}")
        assert reason([path], LIBSSL, nginx) is not None, url
