"""Benchmark: full vulnerability-database build from the offline mirror, version parsing, matching.

    .venv/bin/python bench/bench_db.py [--mirror DIR] [--packages N]

Goal (issue 3): a full database build from the mirror under 60 s. Also prints how fast each
version scheme parses (univers is slow for some, which is why parsed versions are cached) and
how many packages per second the matcher checks.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imgsec.match.matcher import LANGUAGE_ECOSYSTEMS, Matcher
from imgsec.match.versions import (
    parse_apk,
    parse_dpkg,
    parse_maven,
    parse_pep440,
    parse_rpm,
    parse_rubygems,
    parse_semver,
)
from imgsec.sbom.model import Distro, Package, PackageType
from imgsec.vulndb.store import VulnDB
from imgsec.vulndb.update import build_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MIRROR = ROOT.parent / "shared" / "vulndata"
BUILD_BUDGET_S = 60.0

SAMPLES: dict[str, tuple[Callable[[str], Any], list[str]]] = {
    "dpkg": (parse_dpkg, ["1:2.36-9+deb12u{}", "1.0~rc{}-1", "3.{}.2-1+b1"]),
    "pep440": (parse_pep440, ["1.{}.0", "2.0rc{}", "1.0.post{}.dev3"]),
    "semver": (parse_semver, ["1.{}.3", "1.0.0-beta.{}", "0.0.0-2021010100000{}-abcdef123456"]),
    "apk": (parse_apk, ["1.2.{}-r0", "3.1.0_rc{}-r2", "2.{}_p1-r1"]),
    "rpm": (parse_rpm, ["1:1.{}-1.el9", "2.0~rc{}-3", "1.{}^post1-1"]),
    "maven": (parse_maven, ["2.{}.1", "1.0-beta-{}", "3.{}.Final"]),
    "rubygems": (parse_rubygems, ["5.2.{}", "1.0.rc{}", "6.{}.0.1"]),
}


def bench_parsers(n: int = 3000) -> None:
    print("version parsing (uncached first parse, then cached re-parse), microseconds per version:")
    for label, (parse, patterns) in SAMPLES.items():
        texts = [p.format(i) for i in range(n // len(patterns)) for p in patterns]
        raw = getattr(parse, "__wrapped__", parse)
        t0 = time.perf_counter()
        for t in texts:
            raw(t)
        cold = (time.perf_counter() - t0) / len(texts) * 1e6
        for t in texts:
            parse(t)
        t0 = time.perf_counter()
        for t in texts:
            parse(t)
        warm = (time.perf_counter() - t0) / len(texts) * 1e6
        print(f"  {label:9s} {cold:8.1f} us  cached {warm:5.2f} us")


def synthetic_packages(db_path: Path, count: int, seed: int = 1) -> list[Package]:
    """Packages named like ones the database knows, at plausible versions, plus unknown names."""
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT DISTINCT ecosystem, name FROM affected WHERE ecosystem IN ('PyPI','npm','Go','crates.io','RubyGems')"
    ).fetchall()
    conn.close()
    rnd = random.Random(seed)
    by_eco = {v: k for k, v in LANGUAGE_ECOSYSTEMS.items()}
    out = []
    for i in range(count):
        if i % 3 == 0:
            out.append(Package(f"unknown-{i}", "1.0.0", PackageType.PYTHON, f"pkg:pypi/unknown-{i}@1.0.0"))
            continue
        eco, name = rnd.choice(rows)
        version = f"{rnd.randint(0, 4)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}"
        if eco == "Go":
            version = "v" + version
        out.append(Package(name, version, by_eco[eco], f"pkg:generic/{name}@{version}"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    ap.add_argument("--packages", type=int, default=5000)
    args = ap.parse_args()
    if not args.mirror.is_dir():
        print(f"mirror {args.mirror} not found; pass --mirror DIR", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp:
        dest = Path(tmp) / "imgsec.db"
        report = build_database(str(args.mirror), dest)
        size_mb = dest.stat().st_size / 1e6
        records = sum(s.records for s in report.sources)
        print(
            f"full build: {report.seconds:.2f} s for {records} records from {len(report.sources)} sources, {size_mb:.1f} MB"
        )
        print(
            f"  ratio to the {BUILD_BUDGET_S:.0f} s budget: {report.seconds / BUILD_BUDGET_S:.3f} "
            f"({'OK' if report.seconds < BUILD_BUDGET_S else 'TOO SLOW'})"
        )
        bench_parsers()
        packages = synthetic_packages(dest, args.packages)
        with VulnDB(dest) as db:
            t0 = time.perf_counter()
            result = Matcher(db).match(packages, Distro(id="debian", version_id="12"))
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            Matcher(db).match(packages, Distro(id="debian", version_id="12"))
            warm = time.perf_counter() - t0
        print(
            f"matching {len(packages)} language packages: {cold:.2f} s cold, {warm:.2f} s with warm version caches "
            f"({len(packages) / cold:.0f} packages/s cold), {len(result.findings)} findings"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
