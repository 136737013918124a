"""The HTML scan report in a real browser (Debian's headless Chromium).

A real scan (the ``imgsec`` CLI) of a hand-made OCI layout, with a database built from the shared
vulnerability mirror plus one hostile OSV record whose summary carries ``<script>`` and an
``onerror`` handler and whose reference is a ``javascript:`` URL.  Chromium loads the page from
``file://`` with filters in the URL fragment; ``--dump-dom`` gives the DOM after the page's script
ran, and ``--log-net-log`` records every request the page made.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ocihelp import Entry, make_tar, write_layout

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
IMGSEC = Path(sys.executable).parent / "imgsec"
VULNDATA = Path(
    os.environ.get("IMGSEC_VULNDATA", Path(__file__).resolve().parents[3] / "shared" / "vulndata")
)

if not CHROMIUM.exists():
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
if not VULNDATA.is_dir():
    pytest.skip(f"offline mirror {VULNDATA} not present", allow_module_level=True)

HOSTILE_SUMMARY = (
    "<script>document.title='pwned'</script>"
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"> & </td></tr>"
)
HOSTILE_HISTORY = "<script>document.body.setAttribute('data-pwned','2')</script> RUN pip install jinja2"

OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
)
STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.9-1
Description: demo

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9
Description: demo
"""
METADATA = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"


def _hostile_osv() -> bytes:
    records = {
        "PYSEC-0000-1.json": {
            "schema_version": "1.6.0",
            "id": "PYSEC-0000-1",
            "modified": "2024-01-01T00:00:00Z",
            "summary": HOSTILE_SUMMARY,
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "jinja2"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.5"}]}],
                }
            ],
            "references": [{"type": "ADVISORY", "url": "javascript:document.title='pwned'"}],
        }
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, rec in records.items():
            zf.writestr(name, json.dumps(rec))
    return buf.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("html")
    mirror = root / "mirror"
    (mirror / "debian").mkdir(parents=True)
    (mirror / "cve").mkdir()
    (mirror / "osv" / "PyPI").mkdir(parents=True)
    os.symlink(VULNDATA / "debian" / "tracker.json", mirror / "debian" / "tracker.json")
    os.symlink(VULNDATA / "cve" / "records.zip", mirror / "cve" / "records.zip")
    (mirror / "osv" / "PyPI" / "all.zip").write_bytes(_hostile_osv())
    cache = root / "cache"
    subprocess.run(
        [IMGSEC, "db", "update", "--mirror", str(mirror), "--cache-dir", str(cache), "-q"],
        check=True,
        timeout=300,
    )
    layout = root / "layout"
    layers = [
        make_tar([Entry("etc/os-release", OS_RELEASE), Entry("var/lib/dpkg/status", STATUS)]),
        make_tar([Entry("usr/local/lib/python3.11/site-packages/Jinja2-2.10.dist-info/METADATA", METADATA)]),
    ]
    write_layout(
        layout,
        layers,
        config_extra={"history": [{"created_by": "debian base"}, {"created_by": HOSTILE_HISTORY}]},
    )
    out: dict[str, Any] = {"root": root}
    for fmt in ("html", "json"):
        path = root / f"report.{fmt}"
        subprocess.run(
            [
                IMGSEC,
                "scan",
                f"oci:{layout}:t",
                "--cache-dir",
                str(cache),
                "--scanners",
                "vuln",
                "-f",
                fmt,
                "-o",
                str(path),
            ],
            check=True,
            timeout=300,
        )
        out[fmt] = path
    out["scan"] = json.loads(out["json"].read_text())
    return out


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str | None]] = []
        self.tags: dict[str, int] = {}
        self.body: dict[str, str | None] = {}
        self.title = ""
        self._in_title = False
        self._table: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "title":
            self._in_title = True
        if tag == "table":
            self._table.append(a.get("id"))
        if tag == "tr" and self._table and self._table[-1] == "findings" and "data-severity" in a:
            self.rows.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def chromium(root: Path, url: str, *extra: str) -> tuple[str, Path]:
    profile = root / f"profile-{len(list(root.glob('profile-*')))}"
    netlog = profile.with_suffix(".netlog.json")
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            f"--log-net-log={netlog}",
            *extra,
            url,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return proc.stdout, netlog


def dom(report: dict[str, Any], fragment: str = "") -> _Dom:
    out, _ = chromium(report["root"], report["html"].as_uri() + fragment, "--dump-dom")
    parsed = _Dom()
    parsed.feed(out)
    return parsed


def visible(d: _Dom) -> list[dict[str, str | None]]:
    return [r for r in d.rows if "hidden" not in r]


def page_requests(netlog: Path) -> list[str]:
    """URLs of requests the page started; the browser's own (update checks) have no origin."""
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    out = []
    for ev in log["events"]:
        params = ev.get("params") or {}
        if (
            names.get(ev["type"]) == "URL_REQUEST_START_JOB"
            and "url" in params
            and params.get("initiator") != "not an origin"
        ):
            out.append(str(params.get("url")))
    return out


def test_every_finding_is_a_row_and_the_hash_filters_them(report: dict[str, Any]) -> None:
    findings = report["scan"]["findings"]
    by_sev: dict[str, int] = {}
    for f in findings:
        by_sev[f["severity"]] = by_sev.get(f["severity"], 0) + 1
    assert by_sev.get("CRITICAL", 0) >= 2  # the hostile record (CVSS 9.8) and CVE-2024-5535 (CVSS 9.1)

    everything = dom(report)
    assert len(everything.rows) == len(findings)
    assert len(visible(everything)) == len(findings)
    assert everything.body.get("data-shown") == str(len(findings))

    critical = dom(report, "#severity=CRITICAL")
    assert len(visible(critical)) == by_sev["CRITICAL"]
    assert {r["data-severity"] for r in visible(critical)} == {"CRITICAL"}

    two = dom(report, "#severity=CRITICAL,HIGH")
    assert len(visible(two)) == by_sev["CRITICAL"] + by_sev.get("HIGH", 0)


def test_text_kind_and_fixable_filters(report: dict[str, Any]) -> None:
    findings = report["scan"]["findings"]
    jinja = [f for f in findings if f.get("package_name") == "jinja2"]
    assert jinja
    d = dom(report, "#q=JINJA2")  # case-insensitive
    assert len(visible(d)) == len(jinja)

    fixable = [f for f in findings if f.get("fixed_versions")]
    d = dom(report, "#fixable=1")
    assert len(visible(d)) == len(fixable)
    assert all(r["data-fixable"] == "1" for r in visible(d))

    d = dom(report, "#kind=vulnerability&q=libssl3")
    assert len(visible(d)) == len([f for f in findings if f.get("package_name") == "libssl3"])
    d = dom(report, "#kind=secret")
    assert visible(d) == []


def test_hostile_text_is_inert(report: dict[str, Any]) -> None:
    html_text = report["html"].read_text()
    d = dom(report)
    assert d.tags.get("script") == 1  # only the report's own
    assert "img" not in d.tags
    assert "data-pwned" not in d.body
    assert d.title.startswith("imgsec scan:")
    # The text is shown, as text.
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in html_text
    assert "javascript:" not in html_text.split("<tbody>", 1)[1].split('href="', 1)[-1][:20]
    assert 'href="javascript' not in html_text


def test_the_page_requests_nothing(report: dict[str, Any]) -> None:
    _, netlog = chromium(report["root"], report["html"].as_uri(), "--dump-dom")
    assert page_requests(netlog) == []


def test_the_request_check_sees_a_page_that_does_fetch(report: dict[str, Any]) -> None:
    # Control: the same check catches a page that loads an image over the network.
    page = report["root"] / "fetching.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    _, netlog = chromium(report["root"], page.as_uri(), "--dump-dom")
    assert any(u.startswith("http://127.0.0.1:9/") for u in page_requests(netlog))


def test_screenshot(report: dict[str, Any]) -> None:
    shot = report["root"] / "report.png"
    chromium(
        report["root"],
        report["html"].as_uri() + "#severity=CRITICAL,HIGH,MEDIUM",
        f"--screenshot={shot}",
        "--window-size=1400,1600",
        "--hide-scrollbars",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("IMGSEC_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
