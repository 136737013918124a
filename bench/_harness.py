"""Shared helpers for the benchmarks: run a command, measure wall time and its own peak RSS."""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Measured:
    label: str
    seconds: float
    peak_rss_mb: float


@functools.cache
def _compile_sources() -> None:
    """Write imgsec's bytecode once, as installing or a first run does for a user."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)


def measure(
    label: str,
    argv: Sequence[str],
    runs: int = 3,
    env: dict[str, str] | None = None,
    *,
    warmup: bool = True,
) -> Measured:
    """Median wall time and the largest peak RSS of ``runs`` runs of ``argv`` (output discarded),
    after one unmeasured warm-up run unless ``warmup`` is False (cold-cache measurements)."""
    return measure_together([(label, argv)], runs, env, warmup=warmup)[0]


def _run_once(label: str, argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{label}: {' '.join(argv)} failed ({proc.returncode}): {err[-500:]}")
    return elapsed, usage.ru_maxrss / 1024


def measure_together(
    commands: Sequence[tuple[str, Sequence[str]]],
    runs: int = 3,
    env: dict[str, str] | None = None,
    *,
    warmup: bool = True,
) -> list[Measured]:
    """Like :func:`measure` for several commands, run in turns (A B A B ...), so a ratio between
    them compares runs made under the same machine load (a shared host's speed drifts)."""
    full_env = {**os.environ, **(env or {})}
    # Measure the tool as installed: with its modules' bytecode compiled (an environment that
    # forbids writing it would time Python compiling imgsec's sources on every run instead).
    _compile_sources()
    if warmup:
        for _, argv in commands:
            subprocess.run(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env, check=False
            )
    times: list[list[float]] = [[] for _ in commands]
    peaks: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for i, (label, argv) in enumerate(commands):
            elapsed, peak = _run_once(label, argv, full_env)
            times[i].append(elapsed)
            peaks[i].append(peak)
    return [
        Measured(label, statistics.median(t), max(p))
        for (label, _), t, p in zip(commands, times, peaks, strict=True)
    ]


def report(rows: Sequence[Measured], baseline: Measured) -> None:
    width = max(len(r.label) for r in rows)
    for r in rows:
        ratio = r.seconds / baseline.seconds if baseline.seconds else float("nan")
        print(
            f"  {r.label:<{width}}  {r.seconds:7.3f} s  {r.peak_rss_mb:7.1f} MB  {ratio:5.2f}x {baseline.label}"
        )
