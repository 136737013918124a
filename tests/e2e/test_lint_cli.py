"""``imgsec lint`` as a user runs it: exit codes, formats, per-file errors, config, stdin, directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

IMGSEC = str(Path(sys.executable).with_name("imgsec"))
CORPUS = Path(__file__).resolve().parents[1] / "data" / "dockerfiles"
CLEAN = CORPUS / "good" / "clean-python.Dockerfile"
ROOT_USER = CORPUS / "bad" / "IS-DF-020-user-root.Dockerfile"  # high
NO_DIGEST = CORPUS / "bad" / "IS-DF-004-tag-only.Dockerfile"  # low only


def run(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    env["XDG_CONFIG_HOME"] = str(cwd / "xdg")  # never pick up the developer's own config
    return subprocess.run(
        [IMGSEC, "lint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def findings(proc: subprocess.CompletedProcess[bytes]) -> dict[str, set[str]]:
    doc = json.loads(proc.stdout)
    return {f["path"]: {x["rule"] for x in f["findings"]} for f in doc["files"]}


def test_exit_codes_follow_the_failure_threshold(tmp_path: Path) -> None:
    assert run(["-f", "json", str(CLEAN)], tmp_path).returncode == 0
    assert run(["-f", "json", str(ROOT_USER)], tmp_path).returncode == 1
    # Low findings are reported but do not fail at the default threshold (medium)...
    low = run(["-f", "json", str(NO_DIGEST)], tmp_path)
    assert low.returncode == 0 and "IS-DF-004" in findings(low)[str(NO_DIGEST)]
    # ...and do when the threshold is lowered; a high finding passes a critical threshold.
    assert run(["-f", "json", "--failure-threshold", "low", str(NO_DIGEST)], tmp_path).returncode == 1
    assert run(["-f", "json", "--failure-threshold", "critical", str(ROOT_USER)], tmp_path).returncode == 0


def test_bad_files_are_reported_and_the_others_still_linted(tmp_path: Path) -> None:
    binary = tmp_path / "binary.Dockerfile"
    binary.write_bytes(bytes(range(256)) * 8)
    latin1 = tmp_path / "latin1.Dockerfile"
    latin1.write_bytes('FROM debian:12-slim\nLABEL author="Jos\xe9"\n'.encode("latin-1"))
    heredoc = tmp_path / "heredoc.Dockerfile"
    heredoc.write_text("FROM debian:12-slim\nRUN <<EOF\necho never closed\n")
    huge = tmp_path / "huge.Dockerfile"
    huge.write_bytes(b"FROM debian:12-slim\n" + b"# padding\n" * 120_000)
    proc = run(
        ["-f", "json", str(ROOT_USER), str(binary), str(latin1), str(heredoc), str(huge), str(CLEAN)],
        tmp_path,
    )
    assert proc.returncode == 2
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 4
    for path, reason in [
        (binary, "binary file"),
        (latin1, "invalid UTF-8 at line 2"),
        (heredoc, "unterminated heredoc"),
        (huge, "larger than 1 MiB"),
    ]:
        assert any(line.startswith(f"imgsec: error: {path}: ") and reason in line for line in lines), (
            path,
            lines,
        )
    got = findings(proc)
    assert "IS-DF-020" in got[str(ROOT_USER)]
    assert got[str(CLEAN)] == set()


def test_sarif_and_checkstyle_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "lint.sarif"
    proc = run(["-f", "sarif", "-o", str(out), str(ROOT_USER)], tmp_path)
    assert proc.returncode == 1 and proc.stdout == b""
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert [r["ruleId"] for r in sarif["runs"][0]["results"] if r["ruleId"] == "IS-DF-020"] == ["IS-DF-020"]
    xml = run(["-f", "checkstyle", str(ROOT_USER)], tmp_path)
    assert ET.fromstring(xml.stdout).find("file") is not None


def test_table_and_tty_alias(tmp_path: Path) -> None:
    for fmt in ("table", "tty"):
        proc = run(["-f", fmt, str(ROOT_USER)], tmp_path)
        assert proc.returncode == 1
        text = proc.stdout.decode()
        assert "IS-DF-020" in text and "FAIL" in text


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    proc = run(["-f", "yaml", str(CLEAN)], tmp_path)
    assert proc.returncode == 2 and b"unknown --format" in proc.stderr


def test_config_file_trusted_registries_and_disabled_rules(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM quay.io/acme/app:1.0\nRUN sudo true\nUSER 10001\n")
    (tmp_path / "imgsec.yaml").write_text(
        "lint:\n  trusted-registries: [registry.example.com]\n  disabled-rules: [IS-DF-060]\n"
    )
    proc = run(["-f", "json", "Dockerfile"], tmp_path)
    got = findings(proc)["Dockerfile"]
    assert "IS-DF-001" in got and "IS-DF-060" not in got
    assert proc.returncode == 1
    # A flag wins over the file.
    proc = run(["-f", "json", "--trusted-registry", "quay.io", "Dockerfile"], tmp_path)
    assert "IS-DF-001" not in findings(proc)["Dockerfile"]


def test_directories_are_searched_for_dockerfiles(tmp_path: Path) -> None:
    (tmp_path / "svc" / "api").mkdir(parents=True)
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    for name in (
        "svc/Dockerfile",
        "svc/api/Dockerfile.prod",
        "svc/worker.Dockerfile",
        "node_modules/x/Dockerfile",
    ):
        (tmp_path / name).write_text("FROM debian:12-slim\nUSER root\n")
    (tmp_path / "svc" / "README.md").write_text("not a Dockerfile")
    proc = run(["-f", "json", "svc", "node_modules/../svc/worker.Dockerfile"], tmp_path)
    assert sorted(findings(proc)) == sorted(
        [
            "svc/Dockerfile",
            "svc/api/Dockerfile.prod",
            "svc/worker.Dockerfile",
            "node_modules/../svc/worker.Dockerfile",
        ]
    )
    assert run(["-f", "json", str(tmp_path / "node_modules" / "x" / "nothing")], tmp_path).returncode == 2


def test_stdin(tmp_path: Path) -> None:
    proc = run(["-f", "json", "-"], tmp_path, stdin=b"FROM debian\nUSER 10001\n")
    assert proc.returncode == 1 and findings(proc)["-"] >= {"IS-DF-002"}
    proc = run(["-f", "json", "-"], tmp_path, stdin=b"\x00\x01")
    assert proc.returncode == 2 and b"imgsec: error: -: binary file" in proc.stderr


def test_build_arg_resolves_from(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE\nFROM ${BASE}\nUSER 10001\n")
    assert "IS-DF-006" in findings(run(["-f", "json", "Dockerfile"], tmp_path))["Dockerfile"]
    got = findings(run(["-f", "json", "--build-arg", "BASE=node:latest", "Dockerfile"], tmp_path))[
        "Dockerfile"
    ]
    assert "IS-DF-003" in got and "IS-DF-006" not in got


def test_list_rules(tmp_path: Path) -> None:
    proc = run(["--list-rules"], tmp_path)
    assert proc.returncode == 0
    assert b"IS-DF-001" in proc.stdout and b"IS-DF-062" in proc.stdout


def test_no_arguments_is_a_usage_error(tmp_path: Path) -> None:
    proc = run([], tmp_path)
    assert proc.returncode == 2 and b"no Dockerfile given" in proc.stderr


def test_unknown_rule_to_disable_is_a_usage_error(tmp_path: Path) -> None:
    proc = run(["-f", "json", "--disable", "IS-DF-999", str(CLEAN)], tmp_path)
    assert proc.returncode == 2 and b"IS-DF-999" in proc.stderr and proc.stdout == b""
