"""Secrets across layers (OCI whiteouts, opaque dirs, overwrites) and in the image config.

Layouts are written byte by byte from the OCI image spec (``tests/unit/ocihelp.py``) and read
through the real source and layer reader, as ``imgsec scan`` does.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imgsec.image.layers import read_layers
from imgsec.image.sources import open_image
from imgsec.secrets import SecretFinding, config_secrets, find_image_secrets, secret_route
from tests.unit.ocihelp import Entry, make_tar, sha, write_layout

ALNUM = string.ascii_letters + string.digits


def github_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


def scan(layout: Path) -> list[SecretFinding]:
    image = open_image(f"oci:{layout}:t")
    return find_image_secrets(image, read_layers(image, [secret_route()]))


def test_secret_deleted_by_a_whiteout_is_found_in_its_layer(tmp_path: Path) -> None:
    layers = [
        make_tar(
            [
                Entry("root/", kind="dir"),
                Entry("root/.ssh/", kind="dir"),
                Entry("root/.ssh/id_rsa", private_key(), mode=0o600),
            ]
        ),
        make_tar([Entry("root/.ssh/.wh.id_rsa")]),
    ]
    write_layout(tmp_path, layers)
    findings = scan(tmp_path)
    assert [(f.id, f.path, f.layer, f.layer_index, f.deleted) for f in findings] == [
        ("IS-SEC-005", "root/.ssh/id_rsa", sha(layers[0]), 0, True)
    ]
    assert findings[0].locations[0].layer == sha(layers[0])


def test_secret_in_an_overwritten_file_is_found_in_the_lower_layer(tmp_path: Path) -> None:
    old, new = github_token(), github_token()
    layers = [
        make_tar([Entry("app/.env", f"GITHUB_TOKEN={old}\n".encode())]),
        make_tar([Entry("app/.env", f"# rotated\nGITHUB_TOKEN={new}\n".encode())]),
    ]
    write_layout(tmp_path, layers)
    findings = scan(tmp_path)
    assert [(f.path, f.line, f.layer, f.deleted) for f in findings] == [
        ("app/.env", 1, sha(layers[0]), True),
        ("app/.env", 2, sha(layers[1]), False),
    ]
    assert [f.match for f in findings] == [old[:4] + "****(40)", new[:4] + "****(40)"]


def test_file_replaced_by_a_clean_one_still_reports_the_old_secret(tmp_path: Path) -> None:
    layers = [
        make_tar([Entry("etc/app/token", github_token().encode())]),
        make_tar([Entry("etc/app/token", b"nothing here\n")]),
        make_tar([Entry("etc/app/other", b"x\n")]),
    ]
    write_layout(tmp_path, layers)
    assert [(f.layer_index, f.deleted) for f in scan(tmp_path)] == [(0, True)]


def test_opaque_directory_and_deleted_parent_directory(tmp_path: Path) -> None:
    layers = [
        make_tar(
            [
                Entry("opt/", kind="dir"),
                Entry("opt/app/", kind="dir"),
                Entry("opt/app/key.txt", f"token={github_token()}\n".encode()),
                Entry("srv/", kind="dir"),
                Entry("srv/keep.txt", f"token={github_token()}\n".encode()),
                Entry("var/", kind="dir"),
                Entry("var/creds/", kind="dir"),
                Entry("var/creds/a.txt", f"token={github_token()}\n".encode()),
            ]
        ),
        make_tar(
            [
                Entry("opt/app/.wh..wh..opq"),
                Entry("opt/app/new.txt", b"clean\n"),
                Entry("var/.wh.creds"),
            ]
        ),
    ]
    write_layout(tmp_path, layers)
    state = {f.path: f.deleted for f in scan(tmp_path)}
    assert state == {"opt/app/key.txt": True, "srv/keep.txt": False, "var/creds/a.txt": True}


def test_a_secret_alive_in_the_final_view_is_not_deleted(tmp_path: Path) -> None:
    layers = [make_tar([Entry("app/config.json", json.dumps({"token": github_token()}).encode())])]
    write_layout(tmp_path, layers, how="zstd")
    findings = scan(tmp_path)
    assert [(f.id, f.deleted, f.layer_index) for f in findings] == [("IS-SEC-006", False, 0)]


# --- the image config ----------------------------------------------------------------------------------


def test_env_labels_and_history_secrets(tmp_path: Path) -> None:
    token, arg_token = github_token(), "".join(secrets.choice(ALNUM) for _ in range(24))
    layers = [make_tar([Entry("app/run.sh", b"#!/bin/sh\nexec app\n")])]
    config: dict[str, object] = {
        "config": {
            "Env": [
                "PATH=/usr/bin",
                f"API_TOKEN={token}",
                "DB_PASSWORD=s3cure-Pa55",
                "PASSWORD_FILE=/run/secrets/db",
            ],
            "Labels": {
                "org.example.repo": "https://ci:Zr8kQ2mNw4pX@git.internal/app.git",
                "maintainer": "ops",
            },
        },
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created_by": f"/bin/sh -c #(nop)  ENV API_TOKEN={token}", "empty_layer": True},
            {"created_by": f"|1 NPM_TOKEN={arg_token} /bin/sh -c npm ci", "empty_layer": True},
        ],
    }
    write_layout(tmp_path, layers, config_extra=config)
    image = open_image(f"oci:{tmp_path}:t")
    found = {(f.source, f.path, f.id) for f in config_secrets(image)}
    # The ARG value is random: depending on its entropy it is the generic password rule or the
    # high-entropy one that names it; either way it is reported exactly once.
    history = {f for f in found if f[0] == "config.history"}
    assert len(history) == 1
    assert history <= {
        ("config.history", "history[2]", "IS-SEC-018"),
        ("config.history", "history[2]", "IS-SEC-019"),
    }
    assert found - history == {
        ("config.Env", "API_TOKEN", "IS-SEC-006"),
        ("config.Env", "DB_PASSWORD", "IS-SEC-018"),
        ("config.Labels", "org.example.repo", "IS-SEC-017"),
        # The ENV token is reported once, for Env; the ARG only lives in the history.
    }
    dumped = repr(config_secrets(image))
    assert token not in dumped and token[4:] not in dumped and arg_token not in dumped


def test_history_secret_points_at_the_layer_its_step_created(tmp_path: Path) -> None:
    token = github_token()
    layers = [make_tar([Entry("a", b"a")]), make_tar([Entry("b", b"b")])]
    config: dict[str, object] = {
        "history": [
            {"created_by": "ADD a /"},
            {"created_by": "ARG X=1", "empty_layer": True},
            {"created_by": f"RUN |1 GH={token} /bin/sh -c fetch"},
        ]
    }
    write_layout(tmp_path, layers, config_extra=config)
    [finding] = config_secrets(open_image(f"oci:{tmp_path}:t"))
    assert (finding.path, finding.layer_index, finding.layer) == ("history[2]", 1, sha(layers[1]))


def test_hostile_config_shapes_are_ignored_not_fatal(tmp_path: Path) -> None:
    layers = [make_tar([Entry("a", b"a")])]
    config: dict[str, object] = {
        "config": {"Env": "API_TOKEN=not-a-list", "Labels": ["not", "a", "dict"]},
        "history": ["not a dict", {"created_by": 42}, {"created_by": "x" * 200_000}],
    }
    write_layout(tmp_path, layers, config_extra=config)
    assert config_secrets(open_image(f"oci:{tmp_path}:t")) == []


def test_dir_source_is_one_layer_without_deletions(tmp_path: Path) -> None:
    token = github_token()
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "app.env").write_text(f"GH={token}\n")
    (tmp_path / "srv" / "link.env").symlink_to("app.env")  # symlinks are never followed
    image = open_image(f"dir:{tmp_path}")
    [finding] = find_image_secrets(image, read_layers(image, [secret_route()]))
    assert (finding.path, finding.layer_index, finding.layer, finding.deleted) == (
        "srv/app.env",
        0,
        None,
        False,
    )
