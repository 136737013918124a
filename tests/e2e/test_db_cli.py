"""``imgsec db update|status|import`` run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

VULNDATA = Path(
    os.environ.get("IMGSEC_VULNDATA", Path(__file__).resolve().parents[3] / "shared" / "vulndata")
)
IMGSEC = [sys.executable, "-c", "from imgsec.cli.main import run; run()"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    return subprocess.run(
        [*IMGSEC, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.skipif(not VULNDATA.is_dir(), reason="offline mirror not present")
def test_update_then_status_from_the_real_mirror(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    res = run("db", "update", "--cache-dir", str(cache), env={"IMGSEC_DB_MIRROR": str(VULNDATA)})
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # progress and warnings go to stderr
    assert "records from" in res.stderr
    assert (cache / "db" / "imgsec.db").is_file()

    res = run("db", "status", "--cache-dir", str(cache), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    sources = {s["source"]: s for s in doc["sources"]}
    assert sources["osv:PyPI"]["records"] == 7080 - 269  # mirror README: records minus withdrawn
    assert sources["debian-tracker"]["records"] == 3752
    assert doc["age"] == "0m"
    assert doc["counts"]["advisory"] > 20000

    table = run("db", "status", "--cache-dir", str(cache), "--format", "table")
    assert table.returncode == 0 and "osv:Go" in table.stdout


def test_import_then_status(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    record = tmp_path / "GHSA-wf5p-g6vw-rhxx.json"
    record.write_text(
        json.dumps(
            {
                "id": "GHSA-wf5p-g6vw-rhxx",
                "aliases": ["CVE-2023-45857"],
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "axios"},
                        "ranges": [
                            {"type": "SEMVER", "events": [{"introduced": "0.8.1"}, {"fixed": "1.6.0"}]}
                        ],
                    }
                ],
            }
        )
    )
    res = run("db", "import", str(record), "--cache-dir", str(cache))
    assert res.returncode == 0, res.stderr
    assert "imported 1 records" in res.stderr
    out = tmp_path / "status.json"
    res = run("db", "status", "--cache-dir", str(cache), "-f", "json", "-o", str(out))
    assert res.returncode == 0 and res.stdout == ""
    doc = json.loads(out.read_text())
    assert [s["source"] for s in doc["sources"]] == ["import:GHSA-wf5p-g6vw-rhxx.json"]


def test_mirror_from_config_file(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "osv" / "npm").mkdir(parents=True)
    with zipfile.ZipFile(mirror / "osv" / "npm" / "all.zip", "w") as zf:
        zf.writestr("X-1.json", json.dumps({"id": "X-1", "affected": []}))
    (tmp_path / "imgsec.yaml").write_text(f"db-mirror: {mirror}\ncache-dir: {tmp_path / 'c'}\n")
    res = run("db", "update", "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # --quiet
    assert (tmp_path / "c" / "db" / "imgsec.db").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("db", "update"), "no vulnerability data mirror configured"),
        (("db", "update", "--mirror", "/no/such/dir"), "is not a directory"),
        (("db", "status"), "run 'imgsec db update' first"),
        (("db", "status", "--format", "sarif"), "unknown --format"),
        (("db", "import", "/no/such/file.json"), "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    res = run(*args, "--cache-dir", str(tmp_path / "c"))
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert len([line for line in res.stderr.splitlines() if "error" in line]) == 1


def test_unreachable_mirror_exits_3(tmp_path: Path) -> None:
    res = run("db", "update", "--mirror", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "c"))
    assert res.returncode == 3, res.stderr
    assert "unreachable" in res.stderr
