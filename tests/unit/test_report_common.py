"""A scan result with every kind of finding, shared by the report tests, and the facts all reports
share (severity numbers, fingerprints, places)."""

from __future__ import annotations

from dataclasses import dataclass

from packageurl import PackageURL

from imgsec.findings import CVSS, Finding, FindingKind, FixStatus, Severity, VulnerabilityFinding
from imgsec.report._facts import fingerprint, severity_score, where
from imgsec.sbom.model import SBOM, Distro, ImageSummary, LayerSummary, Location, Package, PackageType
from imgsec.scan import DatabaseInfo, ScanResult, Suppressed

L0 = "sha256:" + "a" * 64
L1 = "sha256:" + "b" * 64
L2 = "sha256:" + "c" * 64
HOSTILE = '<script>alert("x")</script> & | [a](javascript:alert(1)) </td><img src=x onerror=alert(2)>'
IMAGE_NAME = "registry.example.com/team/app:1.0"


@dataclass(frozen=True)
class PlaceFinding(Finding):
    """A finding kind the renderers have never seen (like a secret): a path, a line, a redacted match."""

    path: str = ""
    line: int = 0
    match: str = ""
    deleted: bool = False


def _vuln(**kw: object) -> VulnerabilityFinding:
    base: dict[str, object] = {"kind": FindingKind.VULNERABILITY, "status": FixStatus.FIXED}
    base.update(kw)
    return VulnerabilityFinding(**base)  # type: ignore[arg-type]


LIBSSL3 = Package(
    name="libssl3",
    version="3.0.9-1",
    type=PackageType.DEB,
    purl="pkg:deb/debian/libssl3@3.0.9-1?arch=amd64&distro=debian-12&upstream=openssl",
    source_name="openssl",
    locations=(Location("var/lib/dpkg/status", L0),),
    layer=L0,
)
JINJA2 = Package(
    name="jinja2",
    version="2.10",
    type=PackageType.PYTHON,
    purl="pkg:pypi/jinja2@2.10",
    locations=(Location("usr/local/lib/python3.11/site-packages/Jinja2-2.10.dist-info/METADATA", L1),),
    layer=L1,
)
HOSTILE_PKG = Package(
    name="<svg onload=alert(1)>",
    version="1.0",
    type=PackageType.NPM,
    purl=PackageURL(type="npm", name="<svg onload=alert(1)>", version="1.0").to_string(),
    locations=(Location("app/node_modules/evil dir/package.json", L2),),
    layer=L2,
)

SSL_CRIT = _vuln(
    id="CVE-2024-5535",
    severity=Severity.CRITICAL,
    title="SSL_select_next_proto buffer overread",
    locations=LIBSSL3.locations,
    layer=L0,
    package_name="libssl3",
    package_version="3.0.9-1",
    package_type="deb",
    purl=LIBSSL3.purl,
    ecosystem="Debian:12",
    fixed_versions=("3.0.15-1~deb12u1",),
    severity_source="cvss:cve:CISA-ADP:3.1",
    cvss=(CVSS("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", 9.1, "cve:CISA-ADP"),),
    url="https://security-tracker.debian.org/tracker/CVE-2024-5535",
)
JINJA_HIGH = _vuln(
    id="CVE-2024-56326",
    severity=Severity.HIGH,
    title="Jinja has a sandbox breakout through indirect reference to format method",
    locations=JINJA2.locations,
    layer=L1,
    aliases=("GHSA-q2x7-8rv6-6q7h", "PYSEC-2026-1475"),
    package_name="jinja2",
    package_version="2.10",
    package_type="python",
    purl=JINJA2.purl,
    ecosystem="PyPI",
    fixed_versions=("3.1.5",),
    severity_source="cvss:osv:3.1",
    cvss=(
        CVSS("3.1", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "osv"),
        CVSS("4.0", "CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 5.4, "osv"),
    ),
    url="https://nvd.nist.gov/vuln/detail/CVE-2024-56326",
)
SSL_MEDIUM_UNFIXED = _vuln(
    id="CVE-2023-0001",
    severity=Severity.MEDIUM,
    title="an unfixed medium issue",
    locations=LIBSSL3.locations,
    layer=L0,
    package_name="libssl3",
    package_version="3.0.9-1",
    package_type="deb",
    purl=LIBSSL3.purl,
    status=FixStatus.NOT_FIXED,
    severity_source="debian:urgency",
)
HOSTILE_LOW = _vuln(
    id="CVE-2023-0002",
    severity=Severity.LOW,
    title=HOSTILE,
    locations=HOSTILE_PKG.locations,
    layer=L2,
    package_name=HOSTILE_PKG.name,
    package_version="1.0",
    package_type="npm",
    purl=HOSTILE_PKG.purl,
    fixed_versions=("1.0.1",),
    url="javascript:alert(3)",
)
SSL_UNKNOWN = _vuln(
    id="CVE-2023-0003",
    severity=Severity.UNKNOWN,
    title="no rating anywhere",
    locations=LIBSSL3.locations,
    layer=L0,
    package_name="libssl3",
    package_version="3.0.9-1",
    package_type="deb",
    purl=LIBSSL3.purl,
    status=FixStatus.UNKNOWN,
)
SECRET = PlaceFinding(
    id="IS-SEC-001",
    kind=FindingKind.SECRET,
    severity=Severity.HIGH,
    title="AWS access key ID",
    locations=(Location("root/.aws/credentials", L2),),
    layer=L2,
    path="root/.aws/credentials",
    line=2,
    match="AKIA****(20)",
    deleted=True,
)
CONFIG = Finding(
    id="IS-CFG-001",
    kind=FindingKind.MISCONFIGURATION,
    severity=Severity.MEDIUM,
    title="The image runs as root",
)
VEXED = _vuln(
    id="CVE-2024-0004",
    severity=Severity.HIGH,
    title="suppressed by VEX",
    locations=JINJA2.locations,
    layer=L1,
    package_name="jinja2",
    package_version="2.10",
    package_type="python",
    purl=JINJA2.purl,
)
IGNORED = _vuln(
    id="CVE-2024-0005",
    severity=Severity.CRITICAL,
    title="accepted in an ignore file",
    locations=LIBSSL3.locations,
    layer=L0,
    package_name="libssl3",
    package_version="3.0.9-1",
    package_type="deb",
    purl=LIBSSL3.purl,
)
FILTERED = _vuln(
    id="CVE-2024-0006",
    severity=Severity.LOW,
    title="hidden by --severity",
    locations=JINJA2.locations,
    package_name="jinja2",
    package_version="2.10",
    package_type="python",
    purl=JINJA2.purl,
)
VEX_REASON = "vex: not_affected (vulnerable_code_not_in_execute_path) from vex.json"
IGNORE_REASON = "ignore-file .imgsecignore:1: fixed in our fork"


def sample_result() -> ScanResult:
    image = ImageSummary(
        name=IMAGE_NAME,
        manifest_digest="sha256:" + "d" * 64,
        config_digest="sha256:" + "e" * 64,
        os="linux",
        architecture="amd64",
        layers=(
            LayerSummary(
                0, "sha256:" + "0" * 64, L0, "application/vnd.oci.image.layer.v1.tar+gzip", 100, "debian base"
            ),
            LayerSummary(
                1,
                "sha256:" + "1" * 64,
                L1,
                "application/vnd.oci.image.layer.v1.tar+gzip",
                200,
                "pip install jinja2==2.10",
            ),
            LayerSummary(
                2, "sha256:" + "2" * 64, L2, "application/vnd.oci.image.layer.v1.tar+gzip", 300, HOSTILE
            ),
        ),
        repo_digests=("registry.example.com/team/app@sha256:" + "d" * 64,),
    )
    sbom = SBOM(
        image=image,
        distro=Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)"),
        packages=(LIBSSL3, JINJA2, HOSTILE_PKG),
    )
    return ScanResult(
        sbom=sbom,
        findings=(SSL_CRIT, JINJA_HIGH, SECRET, SSL_MEDIUM_UNFIXED, CONFIG, HOSTILE_LOW, SSL_UNKNOWN),
        suppressed=(
            Suppressed(VEXED, VEX_REASON),
            Suppressed(IGNORED, IGNORE_REASON),
            Suppressed(FILTERED, "severity"),
        ),
        database=DatabaseInfo("/tmp/db", "2026-01-01T00:00:00Z", 30.0, False),
        scanners=frozenset({"vuln", "secret", "config"}),
    )


def github_band(score: float) -> Severity:
    """GitHub code scanning's reading of security-severity (docs: "over 9.0 is critical, 7.0 to 8.9
    is high, 4.0 to 6.9 is medium and 3.9 or less is low")."""
    if score > 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW


def test_severity_score_is_the_cvss_score_behind_the_severity() -> None:
    assert severity_score(SSL_CRIT) == 9.1
    # Two assessments: the one that rates HIGH (v3.1 7.8) is behind the finding's severity.
    assert severity_score(JINJA_HIGH) == 7.8
    for f in (SSL_MEDIUM_UNFIXED, HOSTILE_LOW, SECRET, CONFIG):
        score = severity_score(f)
        assert score is not None and github_band(score) == f.severity
    assert severity_score(SSL_UNKNOWN) is None


def test_fingerprint_follows_the_finding_not_the_report() -> None:
    again = _vuln(**{**SSL_CRIT.__dict__, "title": "retitled", "severity": Severity.HIGH})
    assert fingerprint(again) == fingerprint(SSL_CRIT)
    assert fingerprint(SSL_CRIT) != fingerprint(_vuln(**{**SSL_CRIT.__dict__, "purl": JINJA2.purl}))
    assert fingerprint(SSL_CRIT) != fingerprint(SSL_UNKNOWN)


def test_where_names_file_and_line_or_the_image_config() -> None:
    assert where(SECRET) == "root/.aws/credentials:2"
    assert where(CONFIG) == "image config"
    assert where(SSL_CRIT) == "var/lib/dpkg/status"
