"""Match installed packages against the advisory database.

Which advisories apply to a package:

- Distro packages (deb, apk) are looked up by their *source* package (``Package.source_name``,
  else the binary name) in the distro release's ecosystem (Debian ``version_id`` 12 ->
  ``Debian:12``, Alpine 3.11.6 -> ``Alpine:v3.11``) and compared by the distro's scheme.
- Language packages are looked up by ecosystem (python -> PyPI, npm, go-module -> Go,
  java-archive and jenkins-plugin -> Maven ``group:artifact``, gem -> RubyGems, rust-crate ->
  crates.io) under that ecosystem's name normalisation. The Go toolchain appears as module ``stdlib``.

A version is affected when it is in the entry's explicit ``versions`` list or inside one of its
ranges, evaluated as the OSV schema specifies (events sorted by version; ``introduced`` opens,
``fixed`` closes exclusive, ``last_affected`` closes inclusive, ``limit`` caps the range).

One finding per vulnerability per package: advisories that name each other as aliases (a PYSEC
and a GO record naming the same CVE) are merged. The finding's id is the CVE when there is one
(what ignore files, VEX documents and other scanners use), else the GHSA id, else the source's own.

Ids an advisory names as *related* (Debian ELTS ``ELA-...`` records list the CVEs they fix there,
not as aliases) are not merged: they are shown in ``VulnerabilityFinding.related``. When the
advisory carries no severity of its own (no CVSS for its ids, no label), its severity is the highest
of its related CVEs' CVE-record ratings, with ``severity_source`` naming that CVE (``"CVE-2023-51766
(cna)"``); a KEV entry for a related CVE sets ``kev``.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from packageurl import PackageURL

from imgsec.findings import CVSS, FindingKind, FixStatus, Severity, VulnerabilityFinding
from imgsec.match.names import ecosystem_family, normalize_name
from imgsec.match.versions import Comparable, UnparseableVersion, parser_for
from imgsec.sbom.model import Distro, Package, PackageType
from imgsec.vulndb.store import Advisory, Affected, CvssRow, Event, VulnDB

log = logging.getLogger("imgsec.match")

LANGUAGE_ECOSYSTEMS: dict[PackageType, str] = {
    PackageType.PYTHON: "PyPI",
    PackageType.NPM: "npm",
    PackageType.GO_MODULE: "Go",
    PackageType.JAVA_ARCHIVE: "Maven",
    PackageType.JENKINS_PLUGIN: "Maven",
    PackageType.GEM: "RubyGems",
    PackageType.RUST_CRATE: "crates.io",
}

#: Debian tracker urgency -> severity, used only when no CVSS score is known.
_URGENCY: dict[str, Severity] = {
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "unimportant": Severity.LOW,
}
#: Advisory labels that are not Severity names (GitHub's "MODERATE").
_LABELS = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "LOW", "NONE": "UNKNOWN"}
#: Preference among CVSS versions: v3 first (what most advisories and peers report), then v4, v2.
_CVSS_ORDER = {"3.1": 0, "3.0": 1, "4.0": 2, "2.0": 3}


@dataclass(frozen=True)
class Query:
    """How one package is looked up: ecosystem, normalised name, the version to compare."""

    ecosystem: str
    name: str
    version: str


@dataclass
class MatchResult:
    findings: list[VulnerabilityFinding] = field(default_factory=list)
    #: packages that could not be compared, by reason (reported once each, not fatal)
    skipped: Counter[str] = field(default_factory=Counter)


def distro_ecosystem(distro: Distro | None) -> str | None:
    """The advisory ecosystem of a distro release, or None if imgsec has no data for it."""
    if distro is None:
        return None
    if distro.id == "debian":
        number = (distro.version_id or "").split(".")[0]
        if number.isdigit():
            return f"Debian:{number}"
        code = distro.version_codename
        if code:
            from imgsec.vulndb.importers.debian_tracker import DEBIAN_RELEASES

            return f"Debian:{DEBIAN_RELEASES.get(code, code)}"
        return None
    if distro.id == "alpine":
        m = re.match(r"^(\d+)\.(\d+)", distro.version_id or "")
        return f"Alpine:v{m.group(1)}.{m.group(2)}" if m else None
    return None


def query_for(pkg: Package, distro: Distro | None) -> Query | None:
    """The lookup for ``pkg``, or None if no advisory source covers its kind."""
    if pkg.type in (PackageType.DEB, PackageType.APK):
        eco = distro_ecosystem(distro)
        if eco is None:
            return None
        family = ecosystem_family(eco)
        if (pkg.type is PackageType.DEB) != (family == "Debian"):
            return None
        version = pkg.version
        # Compare the binary version (a binNMU "+b1" sorts just above its source version, so it
        # stays correct), unless the binary is versioned apart from its source (src:gcc-defaults
        # builds cpp 4:12.2.0-3 from source 1.203): then the source version is what fixes name.
        if pkg.source_version and not version.startswith(pkg.source_version):
            version = pkg.source_version
        return Query(eco, normalize_name(eco, pkg.source_name or pkg.name), version)
    eco = LANGUAGE_ECOSYSTEMS.get(pkg.type)
    if eco is None:
        return None
    name = pkg.name
    if pkg.type in (PackageType.JAVA_ARCHIVE, PackageType.JENKINS_PLUGIN):
        name = _maven_name(pkg) or ""
        if not name:
            return None
    return Query(eco, normalize_name(eco, name), pkg.version)


def _maven_name(pkg: Package) -> str | None:
    try:
        purl = PackageURL.from_string(pkg.purl)
    except ValueError:
        purl = None
    if purl is not None and purl.type == "maven" and purl.namespace:
        return f"{purl.namespace}:{purl.name}"
    group = pkg.meta("groupId") or pkg.meta("group_id")
    artifact = pkg.meta("artifactId") or pkg.name
    return f"{group}:{artifact}" if group else None


# --- range evaluation (OSV schema, "Evaluation") -------------------------------------------------

Parser = Callable[[str], Comparable]


@functools.lru_cache(maxsize=1 << 16)
def _prepared(
    family: str, events: tuple[Event, ...]
) -> tuple[tuple[tuple[str, Comparable | None], ...], tuple[Comparable, ...]]:
    """Parsed events sorted by version (``introduced: 0`` first) and the parsed ``limit`` values."""
    parse = parser_for(family)
    assert parse is not None
    limits = tuple(parse(v) for k, v in events if k == "limit")
    zero = [(k, None) for k, v in events if k == "introduced" and v == "0"]
    rest = sorted(
        ((k, parse(v)) for k, v in events if k != "limit" and not (k == "introduced" and v == "0")),
        key=functools.cmp_to_key(_cmp_event),
    )
    return (*zero, *rest), limits


def _cmp_event(a: tuple[str, Comparable], b: tuple[str, Comparable]) -> int:
    if a[1] < b[1]:
        return -1
    if b[1] < a[1]:
        return 1
    return 0


def in_range(family: str, version: Comparable, events: tuple[Event, ...]) -> bool:
    """True if ``version`` is inside the OSV range given by ``events``."""
    ordered, limits = _prepared(family, events)
    if limits and not any(version < lim for lim in limits):
        return False
    affected = False
    for kind, bound in ordered:
        if kind == "introduced":
            if bound is None or not version < bound:
                affected = True
        elif kind == "fixed":
            if bound is not None and not version < bound:
                affected = False
        elif kind == "last_affected" and bound is not None and bound < version:
            affected = False
    return affected


def fixed_for(family: str, version: Comparable, events: tuple[Event, ...]) -> str | None:
    """The ``fixed`` event closing the interval that holds ``version`` (a range may list several
    introduced/fixed pairs, e.g. one per Go release branch): the lowest fix above it."""
    parse = parser_for(family)
    assert parse is not None
    above = [v for k, v in events if k == "fixed" and version < parse(v)]
    return min(above, key=parse) if above else None


@dataclass(frozen=True)
class _Hit:
    affected: Affected
    fixed: tuple[str, ...]


def _evaluate(aff: Affected, installed: str, parsed: Comparable, parse: Parser) -> _Hit | None:
    if aff.status == FixStatus.NOT_AFFECTED:
        return None
    family = ecosystem_family(aff.ecosystem)
    fixed: list[str] = []
    hit = False
    for events in aff.ranges:
        try:
            inside = in_range(family, parsed, events)
        except UnparseableVersion:
            continue  # importers validate ranges; a hand-edited database is no reason to stop
        if inside:
            hit = True
            fix = fixed_for(family, parsed, events)
            if fix is not None:
                fixed.append(fix)
    if not hit and aff.versions:
        if installed in aff.versions:
            hit = True
        elif not aff.ranges:
            # Equal under the scheme but spelled differently (PEP 440 "1.1" == "1.1.0"). With
            # ranges present the lists only enumerate them, so the ranges already decided.
            for v in aff.versions:
                try:
                    if parse(v) == parsed:
                        hit = True
                        break
                except UnparseableVersion:
                    continue
    if hit and not fixed and aff.fixed_hint:
        try:
            if parsed < parse(aff.fixed_hint):
                fixed.append(aff.fixed_hint)
        except UnparseableVersion:
            pass
    return _Hit(aff, tuple(dict.fromkeys(fixed))) if hit else None


# --- merging and presentation ---------------------------------------------------------------------


def preferred_id(ids: Sequence[str]) -> str:
    """CVE first, then GHSA, then anything else; ties broken by sort order."""

    def rank(i: str) -> tuple[int, str]:
        return (0 if i.startswith("CVE-") else 1 if i.startswith("GHSA-") else 2, i)

    return min(ids, key=rank)


def _url_for(vid: str) -> str:
    if vid.startswith("CVE-"):
        return f"https://www.cve.org/CVERecord?id={vid}"
    if vid.startswith("GHSA-"):
        return f"https://github.com/advisories/{vid}"
    return f"https://osv.dev/vulnerability/{vid}"


def _pick_cvss(rows: Sequence[CvssRow]) -> CvssRow | None:
    scored = [r for r in rows if r.score is not None]
    if not scored:
        return None

    def rank(r: CvssRow) -> tuple[int, int, int]:
        provider = 0 if r.source == "cve:cna" else 1 if r.source.startswith("cve:") else 2
        return (provider, _CVSS_ORDER.get(r.version, 9), 0)

    return min(scored, key=rank)


def _best_cvss(rows: Sequence[CvssRow]) -> CvssRow | None:
    """The assessment a finding's severity comes from: a CVE record's first, else any."""
    return _pick_cvss([r for r in rows if r.source.startswith("cve:")]) or _pick_cvss(rows)


def _cvss_severity(row: CvssRow) -> Severity:
    severity = Severity.from_cvss_score(row.score)
    if row.version == "2.0":
        severity = min(severity, Severity.HIGH)  # CVSS v2 bands stop at High (7.0-10.0)
    return severity


def _related_severity(related: Sequence[str], cvss_by_id: dict[str, list[CvssRow]]) -> tuple[Severity, str]:
    """The highest severity among the CVE records of ``related`` ids (each rated as a CVE-id finding
    is), and its source, e.g. ``"CVE-2023-51766 (cna)"``; ``(UNKNOWN, "")`` when none is rated."""
    best: tuple[Severity, float, str, str] | None = None
    for rid in sorted(related):
        row = _best_cvss([r for r in cvss_by_id.get(rid, ()) if r.source.startswith("cve:")])
        if row is None:
            continue
        candidate = (_cvss_severity(row), row.score or 0.0, rid, row.source.removeprefix("cve:"))
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None or best[0] is Severity.UNKNOWN:
        return Severity.UNKNOWN, ""
    return best[0], f"{best[2]} ({best[3]})"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _status_of(hits: Sequence[_Hit], fixed: Sequence[str]) -> FixStatus:
    if fixed:
        return FixStatus.FIXED
    statuses = {FixStatus(h.affected.status) for h in hits if h.affected.status != FixStatus.FIXED}
    for s in (
        FixStatus.NOT_FIXED,
        FixStatus.POSTPONED,
        FixStatus.NO_DSA,
        FixStatus.WILL_NOT_FIX,
        FixStatus.END_OF_LIFE,
    ):
        if s in statuses:
            return s
    return FixStatus.NOT_FIXED


def _sorted_versions(ecosystem: str, versions: Sequence[str]) -> tuple[str, ...]:
    parse = parser_for(ecosystem)
    unique = list(dict.fromkeys(versions))
    if parse is None:
        return tuple(unique)
    try:
        return tuple(sorted(unique, key=parse))
    except UnparseableVersion:
        return tuple(unique)


class Matcher:
    """Matches packages against one database; caches lookups across packages and images."""

    def __init__(self, db: VulnDB) -> None:
        self.db = db
        self._lookup: dict[tuple[str, str], list[Affected]] = {}

    def _affected(self, eco: str, name: str) -> list[Affected]:
        key = (eco, name)
        if key not in self._lookup:
            self._lookup[key] = self.db.affected(eco, name)
        return self._lookup[key]

    def match(self, packages: Sequence[Package], distro: Distro | None) -> MatchResult:
        result = MatchResult()
        examples: dict[str, str] = {}
        per_package: list[tuple[Package, Query, list[_Hit]]] = []
        for pkg in packages:
            query = query_for(pkg, distro)
            if query is None:
                continue
            rows = self._affected(query.ecosystem, query.name)
            if not rows:
                continue
            parse = parser_for(query.ecosystem)
            assert parse is not None
            try:
                parsed = parse(query.version)
            except UnparseableVersion:
                reason = f"unparseable {query.ecosystem} version"
                result.skipped[reason] += 1
                examples.setdefault(reason, f"{pkg.name} {query.version!r}")
                continue
            hits = [h for row in rows if (h := _evaluate(row, query.version, parsed, parse)) is not None]
            if hits:
                per_package.append((pkg, query, hits))
        for reason, n in result.skipped.items():
            log.warning("skipped %d package(s) with an %s, e.g. %s", n, reason, examples[reason])
        if not per_package:
            return result

        adv_ids = sorted({h.affected.advisory_id for _, _, hits in per_package for h in hits})
        advisories = self.db.advisories(adv_ids)
        all_ids = sorted(
            set(adv_ids) | {a for adv in advisories.values() for a in (*adv.aliases, *adv.related)}
        )
        cvss_by_id: dict[str, list[CvssRow]] = {}
        for row in self.db.cvss(all_ids):
            cvss_by_id.setdefault(row.vuln_id, []).append(row)
        kev = self.db.kev(all_ids)
        titles = self.db.cve_titles(all_ids)

        for pkg, query, hits in per_package:
            uf = _UnionFind()
            for h in hits:
                aid = h.affected.advisory_id
                uf.find(aid)
                adv = advisories.get(aid)
                for alias in adv.aliases if adv else ():
                    uf.union(aid, alias)
            groups: dict[str, list[_Hit]] = {}
            for h in hits:
                groups.setdefault(uf.find(h.affected.advisory_id), []).append(h)
            for group in groups.values():
                result.findings.append(self._finding(pkg, query, group, advisories, cvss_by_id, kev, titles))
        result.findings.sort(key=lambda f: (-f.severity.value, f.package_name, f.id))
        return result

    def _finding(
        self,
        pkg: Package,
        query: Query,
        group: list[_Hit],
        advisories: dict[str, Advisory],
        cvss_by_id: dict[str, list[CvssRow]],
        kev: set[str],
        titles: dict[str, str],
    ) -> VulnerabilityFinding:
        adv_ids = sorted({h.affected.advisory_id for h in group})
        advs = [advisories[i] for i in adv_ids if i in advisories]
        ids = set(adv_ids) | {x for a in advs for x in a.aliases}
        vid = preferred_id(sorted(ids))
        fixed = _sorted_versions(query.ecosystem, [v for h in group for v in h.fixed])
        status = _status_of(group, fixed)

        cvss_rows = [r for i in sorted(ids) for r in cvss_by_id.get(i, ())]
        related = tuple(sorted({r for a in advs for r in a.related} - ids))
        best = _best_cvss(cvss_rows)
        severity_source = ""
        if best is not None:
            severity = _cvss_severity(best)
            severity_source = f"cvss:{best.source}:{best.version}"
        else:
            severity = Severity.UNKNOWN
            for a in advs:
                if a.severity:
                    try:
                        severity = Severity.parse(_LABELS.get(a.severity, a.severity))
                        severity_source = f"advisory:{a.id}"
                        break
                    except ValueError:
                        continue
            if severity is Severity.UNKNOWN and related:
                severity, severity_source = _related_severity(related, cvss_by_id)
            if severity is Severity.UNKNOWN:
                urgencies = [str(h.affected.urgency).rstrip("*") for h in group if h.affected.urgency]
                ranked = [_URGENCY[u] for u in urgencies if u in _URGENCY]
                if ranked:
                    severity = max(ranked)
                    severity_source = "debian-urgency"

        title = next((a.summary for a in advs if a.id == vid and a.summary), None)
        title = title or titles.get(vid) or next((a.summary for a in advs if a.summary), None) or ""
        url = next((a.urls[0] for a in advs if a.id == vid and a.urls), None)
        url = url or next((a.urls[0] for a in advs if a.urls), None) or _url_for(vid)
        return VulnerabilityFinding(
            id=vid,
            kind=FindingKind.VULNERABILITY,
            severity=severity,
            title=title,
            locations=pkg.locations,
            layer=pkg.layer,
            aliases=tuple(sorted(ids - {vid})),
            package_name=pkg.name,
            package_version=pkg.version,
            package_type=str(pkg.type),
            purl=pkg.purl,
            ecosystem=query.ecosystem,
            fixed_versions=fixed,
            status=status,
            severity_source=severity_source,
            cvss=tuple(dict.fromkeys(CVSS(r.version, r.vector, r.score, r.source) for r in cvss_rows)),
            kev=bool((ids | set(related)) & kev),
            url=url,
            advisory_ids=tuple(adv_ids),
            related=related,
        )


def match_packages(
    packages: Sequence[Package], distro: Distro | None, db: VulnDB
) -> list[VulnerabilityFinding]:
    """Every known vulnerability of ``packages`` (one finding per vulnerability per package)."""
    return Matcher(db).match(packages, distro).findings
