"""Package-name normalisation per ecosystem, applied identically at import and at match time."""

from __future__ import annotations

import re

_PEP503 = re.compile(r"[-_.]+")


def normalize_name(ecosystem: str, name: str) -> str:
    """The name advisories and installed packages are compared by, in ``ecosystem``.

    - PyPI: PEP 503 (lowercase, runs of ``-``, ``_``, ``.`` become ``-``).
    - crates.io: lowercase (crates.io treats names case-insensitively).
    - npm: unchanged. Names are case-sensitive in the registry: new names must be lowercase, but
      legacy mixed-case packages (``JSONStream``) are distinct from their lowercase spellings.
    - Go: module paths as written (case-sensitive; the proxy escapes capitals instead).
    - Maven: ``groupId:artifactId`` as written.
    - RubyGems, Debian, Alpine and the rest: unchanged.
    """
    name = name.strip()
    family = ecosystem_family(ecosystem)
    if family == "PyPI":
        return _PEP503.sub("-", name).lower()
    if family == "crates.io":
        return name.lower()
    return name


def ecosystem_family(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``, ``Alpine:v3.11`` -> ``Alpine``, ``PyPI`` -> ``PyPI``."""
    return ecosystem.split(":", 1)[0]
