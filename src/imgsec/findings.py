"""Findings: what is wrong with an image, as plain data.

Every finding kind (vulnerability now; secret and misconfiguration later) shares the fields in
:class:`Finding` so filters (severity, ignore files, VEX) and renderers can treat them alike; each
kind adds its own facts in a subclass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum, StrEnum

from imgsec.sbom.model import Location


@functools.total_ordering
class Severity(Enum):
    """Severity with an order: UNKNOWN < LOW < MEDIUM < HIGH < CRITICAL."""

    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.value < other.value

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``high``, ``HIGH``, ``High`` -> Severity.HIGH; raises ValueError on anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r}; expected one of {', '.join(s.name for s in cls)}"
            ) from None

    @classmethod
    def from_cvss_score(cls, score: float | None) -> Severity:
        """The qualitative rating of a CVSS v3/v4 base score (FIRST CVSS v3.1 spec, section 5).

        0.0 is "None" in the spec; it carries no risk signal, so it maps to UNKNOWN here.
        """
        if score is None or score <= 0.0:
            return cls.UNKNOWN
        if score < 4.0:
            return cls.LOW
        if score < 7.0:
            return cls.MEDIUM
        if score < 9.0:
            return cls.HIGH
        return cls.CRITICAL


class FindingKind(StrEnum):
    VULNERABILITY = "vulnerability"
    SECRET = "secret"  # noqa: S105 (a finding kind, not a credential)
    MISCONFIGURATION = "misconfiguration"


class FixStatus(StrEnum):
    """Whether a fix exists, in the distinctions distro trackers make (not collapsed)."""

    FIXED = "fixed"  # a fixed version exists; the installed one is below it
    NOT_FIXED = "not-fixed"  # affected, no fix published yet (Debian "open")
    NO_DSA = "no-dsa"  # minor issue: fixed in a point release or not at all
    POSTPONED = "postponed"  # fix deferred to a later update
    WILL_NOT_FIX = "will-not-fix"  # Debian "ignored"
    END_OF_LIFE = "end-of-life"  # package no longer security-supported
    NOT_AFFECTED = "not-affected"  # the distro's package never had the flaw
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CVSS:
    """One CVSS assessment of a vulnerability and who made it."""

    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    score: float | None
    source: str  # e.g. "cve:cna", "cve:CISA-ADP", "osv"


@dataclass(frozen=True)
class Finding:
    """What every finding has: an id, a kind, a severity, a title, where it is."""

    id: str
    kind: FindingKind
    severity: Severity
    title: str
    locations: tuple[Location, ...] = ()
    layer: str | None = None


@dataclass(frozen=True)
class VulnerabilityFinding(Finding):
    """A package version that a known vulnerability affects.

    ``id`` is the preferred identifier (a CVE when one is known, see
    :func:`imgsec.match.matcher.preferred_id`); ``aliases`` holds every other id merged into it.
    """

    aliases: tuple[str, ...] = ()
    package_name: str = ""
    package_version: str = ""
    package_type: str = ""
    purl: str = ""
    ecosystem: str = ""
    fixed_versions: tuple[str, ...] = ()
    status: FixStatus = FixStatus.UNKNOWN
    severity_source: str = ""
    cvss: tuple[CVSS, ...] = ()
    kev: bool = False
    url: str | None = None
    advisory_ids: tuple[str, ...] = ()  # the advisory records this finding was built from
    #: ids the advisory names as *related*, not as aliases (a Debian ELTS ``ELA-...`` record lists
    #: the CVEs it fixes this way): sorted, never the finding's id or one of its aliases.
    related: tuple[str, ...] = ()
