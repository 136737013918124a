"""The fixture cache builds once under concurrency, never exposes a half-built entry, and rekeys on edits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures._cache import cached_build, prune_cache, source_key

REPO = Path(__file__).resolve().parents[2]

# A builder that is slow on purpose and counts its runs; it checks that no reader can see its entry yet.
_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.fixtures._cache import cached_build

    def build(out: Path) -> None:
        with open(sys.argv[1], "a") as runs:
            runs.write("built\\n")
        (out / "part1").write_text("1")
        time.sleep(1.0)
        (out / "part2").write_text("2")

    entry = cached_build("demo", "0123456789abcdef", build)
    print(entry, (entry / "part1").read_text(), (entry / "part2").read_text())
    """
)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("IMGSEC_TEST_FIXTURES", str(root))
    return root


def test_concurrent_processes_build_once_and_see_a_complete_entry(cache_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "IMGSEC_TEST_FIXTURES": str(cache_dir), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(runs)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert runs.read_text().splitlines() == ["built"]
    entry = str(cache_dir / "demo-0123456789abcdef")
    assert outputs == [[entry, "1", "2"]] * 3
    assert not list(cache_dir.glob(".build-*"))


def test_failed_build_leaves_nothing_and_next_call_rebuilds(cache_dir: Path) -> None:
    def broken(out: Path) -> None:
        (out / "half").write_text("partial")
        raise RuntimeError("tool crashed")

    with pytest.raises(RuntimeError, match="tool crashed"):
        cached_build("demo", "fedcba9876543210", broken)
    assert not (cache_dir / "demo-fedcba9876543210").exists()
    assert not list(cache_dir.glob(".build-*"))

    def works(out: Path) -> None:
        (out / "ok").write_text("ok")

    entry = cached_build("demo", "fedcba9876543210", works)
    assert (entry / "ok").read_text() == "ok"
    assert not (entry / "half").exists()
    # A cached entry is returned without running the builder again.
    assert cached_build("demo", "fedcba9876543210", broken) == entry


def test_key_follows_builder_sources_only(tmp_path: Path) -> None:
    src = tmp_path / "builder"
    src.mkdir()
    (src / "build.py").write_text("print('v1')\n")
    (src / "assets").mkdir()
    (src / "assets" / "lock.json").write_text("{}\n")
    first = source_key([src / "build.py", src / "assets"], base=tmp_path)
    assert source_key([src / "build.py", src / "assets"], base=tmp_path) == first
    (src / "assets" / "lock.json").write_text('{"changed": true}\n')
    second = source_key([src / "build.py", src / "assets"], base=tmp_path)
    assert second != first
    assert source_key([src / "build.py", src / "assets"], extra=["python3.12"], base=tmp_path) != second
    # The key does not depend on where the checkout lives.
    clone = tmp_path / "clone"
    clone.mkdir()
    src.rename(clone / "builder")
    assert source_key([clone / "builder" / "build.py", clone / "builder" / "assets"], base=clone) == second


def test_prune_removes_only_other_keys_of_named_fixtures(cache_dir: Path) -> None:
    current = cached_build("demo", "1111111111111111", lambda out: None)
    old = cached_build("demo", "2222222222222222", lambda out: None)
    other = cached_build("someone-else", "3333333333333333", lambda out: None)
    removed = prune_cache({"demo": "1111111111111111"})
    assert removed == [old]
    assert current.is_dir() and other.is_dir() and not old.exists()
