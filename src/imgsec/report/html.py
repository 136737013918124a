"""One self-contained HTML page per scan: read it in a browser, mail it, attach it to a CI run.

Everything is inline (CSS, a small vanilla script, SVG charts drawn here), so the page loads
nothing from anywhere; a Content-Security-Policy (``default-src 'none'`` plus the hashes of the one
style and the one script) makes the browser refuse any other script or fetch, as a second line
behind escaping.  All text from the image or the advisories (package names, titles, layer
commands, paths) is hostile and goes through :func:`html.escape`; links are written only for
``http(s)`` URLs.

Filters (severity, kind, free text, fixable only) live in the URL fragment, e.g.
``report.html#severity=CRITICAL,HIGH&kind=vulnerability&q=openssl&fixable=1``, so a filtered view
can be bookmarked or linked; without JavaScript the page shows every finding.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections import Counter
from datetime import UTC, datetime
from typing import Final

from imgsec import __version__
from imgsec.findings import Finding, FindingKind, Severity
from imgsec.report._facts import fixes_label, is_fixable, layer_index, package_label, related_ids, where
from imgsec.sbom.formats._common import distro_label
from imgsec.scan import ScanResult

SEVERITY_COLOR: Final = {
    Severity.CRITICAL: "#b3001b",
    Severity.HIGH: "#e0561b",
    Severity.MEDIUM: "#d89b00",
    Severity.LOW: "#2f7fc1",
    Severity.UNKNOWN: "#8a8f98",
}
_ORDER: Final = sorted(Severity, reverse=True)

_CSS: Final = """
:root{--fg:#1d2330;--muted:#5b6372;--line:#dde1e8;--bg:#fff;--band:#f5f7fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
background:var(--bg);margin:0;padding:24px 32px 48px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px;word-break:break-all}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;color:var(--muted);margin:8px 0 0}
.meta dt{font-weight:600}.meta dd{margin:0;word-break:break-all;color:var(--fg)}
.stale{color:#b3001b;font-weight:600}
.summary{display:flex;gap:32px;flex-wrap:wrap;align-items:center}
.cards{display:flex;gap:10px;flex-wrap:wrap}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:96px;background:var(--band)}
.card b{display:block;font-size:22px}
.card.sev-CRITICAL b{color:#b3001b}.card.sev-HIGH b{color:#e0561b}.card.sev-MEDIUM b{color:#a87800}
.card.sev-LOW b{color:#2f7fc1}.card.sev-UNKNOWN b{color:#5b6372}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--band);position:sticky;top:0;font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.title{max-width:520px}
td.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-all}
.sev{display:inline-block;min-width:78px;text-align:center;border-radius:4px;padding:1px 6px;color:#fff;font-size:12px;font-weight:600}
.sev-CRITICAL .sev,.sev.sev-CRITICAL{background:#b3001b}.sev-HIGH .sev,.sev.sev-HIGH{background:#e0561b}
.sev-MEDIUM .sev,.sev.sev-MEDIUM{background:#d89b00}.sev-LOW .sev,.sev.sev-LOW{background:#2f7fc1}
.sev-UNKNOWN .sev,.sev.sev-UNKNOWN{background:#8a8f98}
.sev.chip{min-width:30px;margin:1px 0}
.filters{display:flex;gap:16px;flex-wrap:wrap;align-items:center;padding:10px 12px;background:var(--band);
border:1px solid var(--line);border-radius:8px;margin-bottom:10px}
.filters label{white-space:nowrap}
.filters input[type=search]{min-width:260px;padding:4px 8px;border:1px solid var(--line);border-radius:4px}
#shown{color:var(--muted);margin-left:auto}
tr[hidden]{display:none}
.muted{color:var(--muted)}
.bar-label{font-size:12px;fill:#1d2330}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"""

_JS: Final = """
(function () {
  "use strict";
  var table = document.getElementById("findings");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var sevBoxes = Array.prototype.slice.call(document.querySelectorAll("input[name=severity]"));
  var kind = document.getElementById("kind");
  var text = document.getElementById("q");
  var fixable = document.getElementById("fixable");
  var shown = document.getElementById("shown");

  function readHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      if (!part) { return; }
      var i = part.indexOf("=");
      var k = decodeURIComponent(i < 0 ? part : part.slice(0, i));
      out[k] = decodeURIComponent(i < 0 ? "" : part.slice(i + 1).replace(/\\+/g, " "));
    });
    return out;
  }
  function fromHash() {
    var h = readHash();
    if (h.severity !== undefined) {
      var want = h.severity.toUpperCase().split(",");
      sevBoxes.forEach(function (b) { b.checked = want.indexOf(b.value) >= 0; });
    }
    if (h.kind !== undefined) { kind.value = h.kind; if (kind.value !== h.kind) { kind.value = ""; } }
    if (h.q !== undefined) { text.value = h.q; }
    if (h.fixable !== undefined) { fixable.checked = h.fixable === "1" || h.fixable === "true"; }
  }
  function toHash() {
    var parts = [];
    var sev = sevBoxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (sev.length !== sevBoxes.length) { parts.push("severity=" + sev.join(",")); }
    if (kind.value) { parts.push("kind=" + encodeURIComponent(kind.value)); }
    if (text.value) { parts.push("q=" + encodeURIComponent(text.value)); }
    if (fixable.checked) { parts.push("fixable=1"); }
    var next = parts.length ? "#" + parts.join("&") : location.pathname + location.search;
    try { history.replaceState(null, "", next); } catch (e) { /* file:// in some browsers */ }
  }
  function apply() {
    var sev = {};
    sevBoxes.forEach(function (b) { sev[b.value] = b.checked; });
    var needle = text.value.trim().toLowerCase();
    var n = 0;
    rows.forEach(function (r) {
      var ok = sev[r.getAttribute("data-severity")] &&
        (!kind.value || r.getAttribute("data-kind") === kind.value) &&
        (!fixable.checked || r.getAttribute("data-fixable") === "1") &&
        (!needle || r.getAttribute("data-text").indexOf(needle) >= 0);
      r.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " shown";
    document.body.setAttribute("data-shown", String(n));
  }
  function changed() { apply(); toHash(); }
  sevBoxes.forEach(function (b) { b.addEventListener("change", changed); });
  kind.addEventListener("change", changed);
  fixable.addEventListener("change", changed);
  text.addEventListener("input", changed);
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  document.getElementById("filters").hidden = false;
  fromHash();
  apply();
}());
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _link(url: object, label: str) -> str:
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{_e(url)}" rel="noopener noreferrer" target="_blank">{_e(label)}</a>'
    return _e(label)


def _age(hours: float | None) -> str:
    if hours is None:
        return "age unknown"
    if hours < 1:
        return f"{max(0, round(hours * 60))} min old"
    if hours < 48:
        return f"{hours:.0f} h old"
    return f"{hours / 24:.0f} days old"


def _bar_chart(counts: dict[Severity, int]) -> str:
    """Horizontal bars, one per severity, scaled to the largest count."""
    width, bar_h, gap, label_w, num_w = 420, 22, 8, 90, 50
    top = max(counts.values()) or 1
    rows = []
    for i, sev in enumerate(_ORDER):
        y = i * (bar_h + gap)
        n = counts.get(sev, 0)
        w = 0 if n == 0 else max(2, round((width - label_w - num_w) * n / top))
        rows.append(
            f'<text class="bar-label" x="0" y="{y + 15}">{sev.name}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="3" fill="{SEVERITY_COLOR[sev]}">'
            f"<title>{sev.name}: {n}</title></rect>"
            f'<text class="bar-label" x="{label_w + w + 6}" y="{y + 15}">{n}</text>'
        )
    height = len(_ORDER) * (bar_h + gap)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="findings by severity">{"".join(rows)}</svg>'
    )


def _donut(counts: dict[Severity, int]) -> str:
    """A donut of the same counts: share of each severity at a glance."""
    total = sum(counts.values())
    r, stroke, size = 52, 22, 150
    c = 2 * 3.141592653589793 * r
    parts = [
        f'<circle cx="{size / 2}" cy="{size / 2}" r="{r}" fill="none" stroke="#eef0f4" stroke-width="{stroke}"/>'
    ]
    offset = 0.0
    for sev in _ORDER:
        n = counts.get(sev, 0)
        if not n or not total:
            continue
        length = c * n / total
        parts.append(
            f'<circle cx="{size / 2}" cy="{size / 2}" r="{r}" fill="none" stroke="{SEVERITY_COLOR[sev]}" '
            f'stroke-width="{stroke}" stroke-dasharray="{length:.2f} {c - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {size / 2} {size / 2})">'
            f"<title>{sev.name}: {n}</title></circle>"
        )
        offset += length
    parts.append(
        f'<text x="{size / 2}" y="{size / 2 + 8}" text-anchor="middle" font-size="24" font-weight="600" '
        f'fill="#1d2330">{total}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="{total} findings">{"".join(parts)}</svg>'
    )


def _layer_of(result: ScanResult, f: Finding) -> int | None:
    idx = getattr(f, "layer_index", None)
    if isinstance(idx, int):
        return idx
    return layer_index(result, f.layer)


def _finding_row(result: ScanResult, f: Finding) -> str:
    is_vuln = f.kind == "vulnerability"
    what = getattr(f, "package_name", "") if is_vuln else where(f)
    installed = getattr(f, "package_version", "") if is_vuln else ""
    fixed = ", ".join(getattr(f, "fixed_versions", ()))
    status = str(getattr(f, "status", "")) if is_vuln else ""
    layer = _layer_of(result, f)
    extra = []
    aliases = getattr(f, "aliases", ())
    if aliases:
        extra.append("aka " + ", ".join(aliases))
    related = related_ids(f)
    if related and f.title:
        extra.append("fixes " + ", ".join(related))
    match = getattr(f, "match", "")
    if match:
        extra.append(f"match {match}")  # detectors redact before a finding is made
    if getattr(f, "deleted", False):
        extra.append("deleted by a later layer, still in the image")
    if is_vuln and f.locations:
        extra.append(f.locations[0].path)
    search = " ".join(
        [
            f.id,
            *aliases,
            *related,
            str(f.kind),
            what,
            installed,
            fixed,
            status,
            f.title,
            package_label(f),
            where(f),
        ]
    ).lower()
    sev = f.severity.name
    return (
        f'<tr class="sev-{sev}" data-severity="{sev}" data-kind="{_e(f.kind)}" '
        f'data-fixable="{1 if is_fixable(f) else 0}" data-text="{_e(search)}">'
        f'<td><span class="sev">{sev}</span></td>'
        f'<td class="mono">{_link(getattr(f, "url", None), f.id)}</td>'
        f"<td>{_e(f.kind)}</td>"
        f'<td class="mono">{_e(what)}</td>'
        f'<td class="mono">{_e(installed)}</td>'
        f'<td class="mono">{_e(fixed)}</td>'
        f"<td>{_e(status)}</td>"
        f'<td class="num">{"" if layer is None else layer}</td>'
        f'<td class="title">{_e(f.title or fixes_label(f, shown=len(related)))}'
        + (f'<div class="muted">{_e(" · ".join(extra))}</div>' if extra else "")
        + "</td></tr>"
    )


def _layers(result: ScanResult) -> str:
    pkgs = Counter(p.layer for p in result.sbom.packages)
    by_layer: dict[int | None, Counter[Severity]] = {}
    for f in result.findings:
        by_layer.setdefault(_layer_of(result, f), Counter())[f.severity] += 1
    rows = []
    for layer in result.sbom.image.layers:
        sev = by_layer.get(layer.index, Counter())
        chips = " ".join(
            f'<span class="sev chip sev-{s.name}" title="{s.name}">{sev[s]}</span>' for s in _ORDER if sev[s]
        )
        rows.append(
            f'<tr><td class="num">{layer.index}</td>'
            f'<td class="mono">{_e(layer.created_by or "")}</td>'
            f'<td class="num">{layer.size:,}</td>'
            f'<td class="num">{pkgs.get(layer.diff_id, 0) if layer.diff_id else 0}</td>'
            f'<td class="num">{sum(sev.values())}</td><td>{chips}</td>'
            f'<td class="mono muted">{_e(layer.diff_id or layer.digest)}</td></tr>'
        )
    if not rows:
        return '<p class="muted">No layers (an SBOM or a directory was scanned).</p>'
    return (
        '<table id="layers"><thead><tr><th>#</th><th>Created by</th><th>Size (bytes)</th><th>Packages</th>'
        "<th>Findings</th><th>By severity</th><th>diff_id</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _suppressed(result: ScanResult) -> str:
    if not result.suppressed:
        return ""
    rows = "".join(
        f'<tr class="sev-{s.finding.severity.name}"><td><span class="sev">{s.finding.severity.name}</span></td>'
        f'<td class="mono">{_e(s.finding.id)}</td><td class="mono">{_e(package_label(s.finding) or where(s.finding))}</td>'
        f"<td>{_e(s.reason)}</td></tr>"
        for s in result.suppressed
    )
    return (
        f"<h2>Suppressed ({len(result.suppressed)})</h2>"
        '<table id="suppressed"><thead><tr><th>Severity</th><th>ID</th><th>Package / where</th>'
        f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def to_html(result: ScanResult, *, generated: datetime | None = None) -> str:
    """Render ``result`` as one self-contained HTML page."""
    image = result.sbom.image
    counts = {s: 0 for s in _ORDER}
    for f in result.findings:
        counts[f.severity] += 1
    kinds = sorted({str(k) for k in FindingKind} | {str(f.kind) for f in result.findings})
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")

    meta = [("Digest", f"<code>{_e(image.manifest_digest or 'none')}</code>")]
    if image.repo_digests:
        meta.append(("Repo digests", "<br>".join(f"<code>{_e(d)}</code>" for d in image.repo_digests)))
    platform = "/".join(x for x in (image.os, image.architecture, image.variant) if x)
    if platform:
        meta.append(("Platform", _e(platform)))
    meta.append(("Distro", _e(distro_label(result.sbom.distro))))
    meta.append(("Packages", str(len(result.sbom.packages))))
    meta.append(("Scanners", _e(", ".join(sorted(result.scanners)))))
    db = result.database
    if db is not None:
        age = _e(f"built {db.built_at or 'at an unknown time'} ({_age(db.age_hours)})")
        meta.append(
            ("Database", f'<span class="stale">{age}, older than allowed</span>' if db.stale else age)
        )

    sev_boxes = "".join(
        f'<label><input type="checkbox" name="severity" value="{s.name}" checked> '
        f'<span class="sev sev-{s.name}">{s.name}</span> {counts[s]}</label>'
        for s in _ORDER
    )
    kind_opts = '<option value="">all kinds</option>' + "".join(
        f'<option value="{_e(k)}">{_e(k)}</option>' for k in kinds
    )
    rows = "".join(_finding_row(result, f) for f in result.findings)
    cards = "".join(
        f'<div class="card sev-{s.name}"><b>{counts[s]}</b>{s.name.lower()}</div>' for s in _ORDER
    )
    warnings = "".join(f'<p class="stale">warning: {_e(w)}</p>' for w in result.warnings)
    csp = (
        f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    title = f"imgsec scan: {image.name}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_e(image.name)}</h1>
<dl class="meta">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)}</dl>
</header>
{warnings}
<h2>Summary: {len(result.findings)} findings{f", {len(result.suppressed)} suppressed" if result.suppressed else ""}</h2>
<div class="summary">{_donut(counts)}{_bar_chart(counts)}<div class="cards">{cards}</div></div>
<h2>Layers</h2>
{_layers(result)}
<h2>Findings</h2>
<div class="filters" id="filters" hidden>
{sev_boxes}
<label>Kind <select id="kind">{kind_opts}</select></label>
<label><input type="checkbox" id="fixable"> fixable only</label>
<input type="search" id="q" placeholder="search id, package, path, title" aria-label="search">
<span id="shown"></span>
</div>
<table id="findings"><thead><tr><th>Severity</th><th>ID</th><th>Kind</th><th>Package / where</th><th>Installed</th>
<th>Fixed in</th><th>Status</th><th>Layer</th><th>Title</th></tr></thead>
<tbody>{rows}</tbody></table>
{"" if result.findings else '<p class="muted">No findings.</p>'}
{_suppressed(result)}
<footer>Generated by imgsec {_e(__version__)} on {_e(when)}. This page loads nothing from the network.</footer>
<script>{_JS}</script>
</body>
</html>
"""  # noqa: S608 (HTML, not SQL: the words "select" and "from" fooled the check)
