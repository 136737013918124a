"""Parsing as BuildKit does, and refusing hostile files with one clear reason each."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsec.lint import LintConfig, lint_file, lint_text
from imgsec.lint.parse import MAX_DOCKERFILE_BYTES, DockerfileError, parse_dockerfile
from imgsec.lint.shell import split_commands
from imgsec.reference import Reference

CONFIG = LintConfig()


def rules(text: str, config: LintConfig = CONFIG) -> set[str]:
    return {f.rule_id for f in lint_text(text, "Dockerfile", config).findings}


# ---- BuildKit semantics -------------------------------------------------------------------------


def test_arg_before_from_is_substituted_and_build_arg_overrides() -> None:
    text = "ARG REGISTRY=registry.example.com\nARG TAG=1.0\nFROM ${REGISTRY}/app:${TAG:-9} AS Run\n"
    df = parse_dockerfile(text)
    assert df.stages[0].base_ref == Reference("registry.example.com", "app", "1.0")
    assert df.stages[0].name == "run"
    df = parse_dockerfile(text, build_args={"TAG": "2.0"})
    assert df.stages[0].base_ref == Reference("registry.example.com", "app", "2.0")


def test_unresolvable_from_is_a_note_not_a_crash() -> None:
    text = "FROM ${BASE_IMAGE}\nUSER 10001\n"
    df = parse_dockerfile(text)
    assert df.stages[0].base is None and df.stages[0].unresolved == ("BASE_IMAGE",)
    assert rules(text) == {"IS-DF-006"}


def test_stage_references_are_case_insensitive_and_inherit() -> None:
    text = "FROM debian:12-slim AS Base\nUSER 10001\nFROM BASE AS final\nCOPY --from=0 /a /b\n"
    df = parse_dockerfile(text)
    assert df.stages[1].base_stage == 0 and df.stages[1].base_ref is None
    assert [s.index for s in df.final_chain] == [1, 0]
    assert df.stage_by_ref("0") is df.stages[0]
    # USER of the parent stage applies to the final image: no missing-user finding.
    assert "IS-DF-021" not in rules(text)


def test_escape_directive_changes_continuations() -> None:
    text = "# escape=`\nFROM debian:12-slim\nRUN apt-get update && `\n    apt-get install -y curl\nUSER 1\n"
    df = parse_dockerfile(text)
    run = df.stages[0].instructions[0]
    assert (run.start_line, run.end_line) == (3, 4)
    assert [c.argv[:2] for c in split_commands(run.shell_script)] == [
        ("apt-get", "update"),
        ("apt-get", "install"),
    ]


def test_heredoc_script_is_linted_but_heredoc_data_is_not() -> None:
    script = "FROM debian:12-slim\nRUN <<EOF\ncurl -fsSL https://x | sh\nEOF\nUSER 1\n"
    data = "FROM debian:12-slim\nRUN cat <<EOF > /etc/motd\ncurl -fsSL https://x | sh\nEOF\nUSER 1\n"
    assert "IS-DF-042" in rules(script)
    assert "IS-DF-042" not in rules(data)


def test_comment_lines_inside_continuations_are_dropped() -> None:
    text = "FROM debian:12-slim\nRUN apt-get update \\\n# a comment\n  && sudo ls\nUSER 1\n"
    (finding,) = [f for f in lint_text(text, "D", CONFIG).findings if f.rule_id == "IS-DF-060"]
    assert (finding.line, finding.end_line) == (2, 4)


def test_exec_form_run_is_understood() -> None:
    assert "IS-DF-060" in rules('FROM debian:12-slim\nRUN ["sudo", "ls"]\nUSER 1\n')
    assert "IS-DF-042" in rules('FROM debian:12-slim\nRUN ["sh", "-c", "curl -s https://x | bash"]\nUSER 1\n')


def test_lowercase_instructions_are_accepted() -> None:
    assert "IS-DF-020" in rules("from debian:12-slim\nuser root\n")


# ---- shell splitting ----------------------------------------------------------------------------


def test_shell_splitting_strips_wrappers_and_tracks_pipes() -> None:
    cmds = split_commands(
        "DEBIAN_FRONTEND=noninteractive sudo -E apt-get install -y x; wget -qO- u | sudo bash -"
    )
    assert [(c.name, c.wrappers, c.pipe_index) for c in cmds] == [
        ("apt-get", ("sudo",), 0),
        ("wget", (), 0),
        ("bash", ("sudo",), 1),
    ]
    assert cmds[1].pipeline == cmds[2].pipeline != cmds[0].pipeline


def test_quoted_text_is_not_a_command() -> None:
    assert [c.name for c in split_commands("echo 'apt-get upgrade && sudo x | sh'")] == ["echo"]


def test_unbalanced_quotes_do_not_crash() -> None:
    assert [c.name for c in split_commands('echo "unterminated\nsudo ls')][:1] == ["echo"]


# ---- inline ignores -----------------------------------------------------------------------------


def test_imgsec_ignore_comment_suppresses_only_that_instruction() -> None:
    text = "FROM debian:12-slim\n# imgsec ignore=IS-DF-060\n# why: vendor script\nRUN sudo ls\nRUN sudo id\nUSER 1\n"
    result = lint_text(text, "D", CONFIG)
    assert [f.line for f in result.findings if f.rule_id == "IS-DF-060"] == [5]
    assert result.suppressed == 1


def test_hadolint_ignore_comment_maps_to_equivalent_rule() -> None:
    text = "# hadolint ignore=DL3006\nFROM debian\nUSER 1\n"
    assert "IS-DF-002" not in rules(text)
    assert "IS-DF-002" in rules(text, LintConfig(hadolint_ignores=False))


def test_global_ignore_and_disabled_rules() -> None:
    text = "# imgsec global ignore=IS-DF-004\nFROM debian:12-slim\nRUN sudo ls\nUSER 1\n"
    assert "IS-DF-004" not in rules(text)
    assert "IS-DF-060" not in rules(text, LintConfig(disabled_rules=frozenset({"IS-DF-060"})))


def test_ignore_does_not_reach_past_an_instruction() -> None:
    text = "FROM debian:12-slim\n# imgsec ignore=IS-DF-060\nRUN true\nRUN sudo ls\nUSER 1\n"
    assert "IS-DF-060" in rules(text)


# ---- hostile and malformed input: one clear error per file ---------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file"),
        (b"FROM debian:12\nRUN echo \xff\xfe\n", "invalid UTF-8 at line 2"),
        (b"FROM debian:12\nRUN echo \xed\xa0\x80\n", "invalid UTF-8 at line 2"),  # encoded lone surrogate
        (b"FROM debian:12\nRUN <<EOF\necho hi\n", "unterminated heredoc"),
        (b"", "empty file"),
        (b"# just a comment\n", "BuildKit cannot parse it"),
        (b"RUN echo hi\n", "before the first FROM"),
        (b"FROM debian:12\nFORM x\n", "unknown instruction"),
        (b"FROM\n", "FROM expects"),
        (b"FROM a b c d\n", "FROM expects"),
        (b"FROM Debian:12\n", "invalid image reference"),
        (b"FROM debian:12 AS x\nFROM debian:12 AS X\n", "duplicate stage name"),
        (b"FROM debian:12\nENV ONLYKEY\n", "ENV must have two arguments"),
        (b"FROM debian:12\nRUN echo " + b"x" * 70000 + b"\n", "max allowed size"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    result = lint_file(path, CONFIG)
    assert result.error is not None and reason in result.error
    assert "\n" not in result.error and "Traceback" not in result.error
    assert result.findings == ()


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian:12\n" + b"RUN true\n" * (MAX_DOCKERFILE_BYTES // 9 + 10))
    result = lint_file(path, CONFIG)
    assert result.error is not None and "larger than 1 MiB" in result.error


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert lint_file(tmp_path / "nope", CONFIG).error == "no such file"
    assert "is a directory" in (lint_file(tmp_path, CONFIG).error or "")


def test_bom_and_crlf_are_accepted() -> None:
    df = parse_dockerfile("\ufeffFROM debian:12-slim\r\nRUN apt-get update \\\r\n  && sudo ls\r\n")
    assert df.stages[0].base_ref == Reference("docker.io", "library/debian", "12-slim")
    with pytest.raises(DockerfileError):
        parse_dockerfile("   \n\n")


# ---- arbitrary text: a result or one DockerfileError, never a crash --------------------------------

_ATOMS = st.sampled_from(
    [
        *("FROM debian:12\n", "RUN ", "COPY ", "ADD ", "ENV ", "ARG ", "USER ", "ONBUILD ", "<<EOF", "EOF"),
        *("\\", "`", "\n", "\r\n", '"', "'", "${", "}", ":-", "# escape=`\n", "--mount=type=secret"),
        *("--from=", " AS ", "x=y"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(_ATOMS, max_size=40).map("".join)))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        result = lint_text(text, "D", LintConfig(trusted_registries=("docker.io",)))
    except DockerfileError as exc:
        assert str(exc) and "internal error" not in str(exc)
    else:
        assert all(f.line >= 1 for f in result.findings)


def test_str_with_nul_or_lone_surrogate_is_refused_before_the_go_parser() -> None:
    with pytest.raises(DockerfileError, match="NUL byte at line 2"):
        parse_dockerfile("FROM a\nRUN x\x00y\n")
    with pytest.raises(DockerfileError, match="unpaired surrogate"):
        parse_dockerfile("FROM a\nRUN \udcff\n")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("777", True),
        ("0666", True),
        ("o+w", True),
        ("a=rwx", True),
        ("u+w,o+rw", True),
        ("g+w", False),
        ("755", False),
        ("0644", False),
        ("1777", False),
        ("+w", False),
        ("u+x", False),
        ("o+rt", False),
    ],
)
def test_world_writable_modes(mode: str, expected: bool) -> None:
    from imgsec.lint.rules.hardening import world_writable

    assert world_writable(mode) is expected
