"""Version schemes against the real reference implementations on this machine:
``dpkg --compare-versions``, rpm's own ``rpm.vercmp`` and node-semver (bundled with npm)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imgsec.match.versions import parse_dpkg, parse_rpm, parse_semver

pytestmark = pytest.mark.integration

NODE_SEMVER = Path("/usr/lib/node_modules/npm/node_modules/semver")


def cmp(parse: Callable[[str], Any], a: str, b: str) -> int:
    x, y = parse(a), parse(b)
    return -1 if x < y else 1 if y < x else 0


def pairs(gen: Callable[[random.Random], str], n: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        a = gen(rnd)
        # Half the pairs are near-misses of each other, where ordering bugs live.
        b = gen(rnd) if rnd.random() < 0.5 else a + rnd.choice(["~1", "+b1", "a", ".0", "-1", "~"])
        out.append((a, b))
    return out


def dpkg_version(rnd: random.Random) -> str:
    epoch = rnd.choice(["", "", "", "1:", "2:"])
    parts = [str(rnd.randint(0, 12)) for _ in range(rnd.randint(1, 3))]
    upstream = ".".join(parts) + rnd.choice(["", "", "~rc1", "~beta2", "a", "+dfsg", "+really1.0", "~~"])
    rev = rnd.choice(
        ["", "-1", "-2", "-1+deb12u1", "-1+deb12u10", "-1+b1", "-0.1", "-1~bpo12+1", "-1ubuntu2"]
    )
    return epoch + upstream + rev


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_dpkg_matches_dpkg_compare_versions() -> None:
    mismatches = []
    for a, b in pairs(dpkg_version, 300, seed=12):
        try:
            mine = cmp(parse_dpkg, a, b)
        except ValueError:
            continue
        lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
        gt = subprocess.run(["dpkg", "--compare-versions", a, "gt", b], check=False).returncode == 0
        theirs = -1 if lt else 1 if gt else 0
        if mine != theirs:
            mismatches.append((a, b, mine, theirs))
    assert mismatches == []


def rpm_version(rnd: random.Random) -> str:
    epoch = rnd.choice(["", "", "", "1:"])
    parts = [str(rnd.randint(0, 12)) for _ in range(rnd.randint(1, 3))]
    ver = ".".join(parts) + rnd.choice(["", "", "~rc1", "^post1", "a", "b2", ".el9"])
    return epoch + ver + rnd.choice(["", "-1", "-2", "-1.el9", "-10"])


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm not installed")
def test_rpm_matches_rpm_vercmp() -> None:
    cases = pairs(rpm_version, 400, seed=7)
    lua = "".join(f'print(rpm.vercmp("{a}", "{b}") .. " ") ' for a, b in cases)
    out = subprocess.run(["rpm", "--eval", f"%{{lua: {lua}}}"], capture_output=True, text=True, check=True)
    theirs = [int(x) for x in out.stdout.split()]
    assert len(theirs) == len(cases)
    mismatches = [
        (a, b, cmp(parse_rpm, a, b), t)
        for (a, b), t in zip(cases, theirs, strict=True)
        if cmp(parse_rpm, a, b) != t
    ]
    assert mismatches == []


def semver_version(rnd: random.Random) -> str:
    core = ".".join(str(rnd.randint(0, 3)) for _ in range(3))
    pre = rnd.choice(["", "", "-0", "-alpha", "-alpha.1", "-beta.11", "-beta.2", "-rc.1", "-1", "-x.7.z"])
    return core + pre + rnd.choice(["", "", "+build.5"])


@pytest.mark.skipif(
    shutil.which("node") is None or not NODE_SEMVER.is_dir(), reason="node and npm's bundled semver needed"
)
def test_semver_matches_node_semver() -> None:
    cases = pairs(semver_version, 500, seed=3)
    cases = [(a, b) for a, b in cases if "~" not in b]  # not SemVer; node-semver rejects too
    script = (
        f"const s=require({json.dumps(str(NODE_SEMVER))});"
        "const c=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "console.log(JSON.stringify(c.map(([a,b])=>{try{return s.compare(a,b)}catch(e){return null}})));"
    )
    out = subprocess.run(
        ["node", "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    theirs = json.loads(out.stdout)
    mismatches = []
    for (a, b), t in zip(cases, theirs, strict=True):
        if t is None:
            continue
        mine = cmp(parse_semver, a, b)
        if mine != t:
            mismatches.append((a, b, mine, t))
    assert mismatches == []
