"""The HTML report without a browser: self-contained, escaped, every finding a filterable row.
(tests/integration/test_report_html_chromium.py runs the page in Chromium.)"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from html.parser import HTMLParser

from imgsec.report.html import to_html
from tests.unit.test_report_common import HOSTILE, SSL_CRIT, sample_result


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def parse() -> tuple[str, _Collect]:
    page = to_html(sample_result())
    c = _Collect()
    c.feed(page)
    return page, c


def test_one_row_per_finding_with_filter_data() -> None:
    result = sample_result()
    _, c = parse()
    rows = [a for t, a in c.starts if t == "tr" and "data-severity" in a]
    assert len(rows) == len(result.findings)
    assert [r["data-severity"] for r in rows] == [f.severity.name for f in result.findings]
    assert {r["data-kind"] for r in rows} == {str(f.kind) for f in result.findings}
    fixable = {f.id for f in result.findings if getattr(f, "fixed_versions", ())}
    assert sum(r["data-fixable"] == "1" for r in rows) == len([f for f in result.findings if f.id in fixable])


def test_hostile_text_is_text() -> None:
    page, c = parse()
    assert [t for t, _ in c.starts].count("script") == 1
    assert "img" not in [t for t, _ in c.starts]
    assert not any(k.startswith("on") for _, a in c.starts for k in a)
    assert HOSTILE in "".join(c.text)  # shown, as text
    assert 'href="javascript' not in page


def test_self_contained_and_locked_by_csp() -> None:
    page, c = parse()
    for tag, attrs in c.starts:
        assert not (
            tag in ("script", "img", "iframe", "link", "object", "embed")
            and ("src" in attrs or "href" in attrs)
        )
        for key in ("href",):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("https://", "http://")) and tag == "a"
    assert "@import" not in page and "url(" not in "".join(c.styles)
    csp = next(
        a["content"] for t, a in c.starts if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None and "default-src 'none'" in csp
    # The hashes in the policy are those of the page's own script and style, so the browser runs them.
    for body, directive in ((c.scripts[0], "script-src"), (c.styles[0], "style-src")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert re.search(rf"{directive} 'sha256-{re.escape(digest)}'", csp)


def test_header_names_image_digest_distro_and_database() -> None:
    result = sample_result()
    _, c = parse()
    text = " ".join(c.text)
    assert result.sbom.image.name in text
    assert str(result.sbom.image.manifest_digest) in text
    assert "Debian GNU/Linux 12 (bookworm)" in text
    assert "built 2026-01-01T00:00:00Z (30 h old)" in text


def test_related_ids_shown_searchable_and_escaped() -> None:
    base = sample_result()
    ela = dataclasses.replace(SSL_CRIT, id="ELA-1126-1", title="", related=("CVE-2023-51766", HOSTILE))
    page = to_html(dataclasses.replace(base, findings=(ela,)))
    c = _Collect()
    c.feed(page)
    assert "fixes CVE-2023-51766, " + HOSTILE in "".join(c.text)  # the title cell, as text
    assert "img" not in [t for t, _ in c.starts]
    row = next(a for t, a in c.starts if t == "tr" and "data-severity" in a)
    assert "cve-2023-51766" in (row["data-text"] or "")  # the search box finds it by CVE
