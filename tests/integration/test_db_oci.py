"""``imgsec db push|pull`` run as a user runs them, against real ``docker-registry`` processes.

Expectations come from the OCI image-spec 1.1 artifact guidance (artifactType, the empty config
``{}``), from skopeo's view of what landed in the registry, from the ``zstd`` tool's view of the
layer, and from ``imgsec db status`` on the database that was pushed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.registry import RegistryServer, build_layout, free_port, skopeo_push

pytestmark = pytest.mark.integration
IMGSEC = str(Path(sys.executable).parent / "imgsec")

RECORDS: list[dict[str, Any]] = [
    {
        "id": "GHSA-wf5p-g6vw-rhxx",
        "modified": "2023-11-08T00:00:00Z",
        "aliases": ["CVE-2023-45857"],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "axios"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.8.1"}, {"fixed": "1.6.0"}]}],
            }
        ],
    },
    {
        "id": "PYSEC-2023-74",
        "modified": "2023-05-26T00:00:00Z",
        "aliases": ["CVE-2023-32681"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
            }
        ],
    },
]


def run(args: list[str], home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSEC_")}
    env["HOME"] = str(home)
    return subprocess.run(
        [IMGSEC, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def make_db(cache: Path, home: Path, records: list[dict[str, Any]]) -> Path:
    """A small database built by ``imgsec db import`` of hand-written OSV records."""
    for i, record in enumerate(records):
        src = cache.parent / f"{cache.name}-{i}-{record['id']}.json"
        src.write_text(json.dumps(record))
        done = run(["db", "import", str(src), "--cache-dir", str(cache), "-q"], home)
        assert done.returncode == 0, done.stderr
    return cache / "db" / "imgsec.db"


def status(cache: Path, home: Path) -> dict[str, object]:
    done = run(["db", "status", "--cache-dir", str(cache), "--format", "json"], home)
    assert done.returncode == 0, done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def skopeo_raw(server: RegistryServer, ref: str) -> dict[str, object]:
    cmd = ["skopeo", "inspect", "--raw"]
    if server.cert_dir is not None:
        cmd += ["--cert-dir", str(server.cert_dir)]
    else:
        cmd += ["--tls-verify=false"]
    if server.username is not None:
        cmd += ["--creds", f"{server.username}:{server.password}"]
    proc = subprocess.run([*cmd, f"docker://{ref}"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


def comparable(doc: dict[str, object]) -> dict[str, object]:
    """What must survive a push and pull: everything ``db status`` says except where the file lives."""
    return {k: v for k, v in doc.items() if k not in ("path", "age")}


def test_push_then_pull_round_trips_and_skopeo_sees_an_oci_artifact(
    registry_plain: RegistryServer, home: Path, tmp_path: Path
) -> None:
    server = registry_plain
    source = make_db(tmp_path / "a", home, RECORDS)
    before = status(tmp_path / "a", home)
    ref = f"{server.host}/imgsec/db-{uuid.uuid4().hex[:8]}:latest"

    pushed = run(["db", "push", ref, "--cache-dir", str(tmp_path / "a"), "--insecure"], home)
    assert pushed.returncode == 0, pushed.stderr
    name, _, digest = pushed.stdout.strip().partition("@")
    assert name == ref.removesuffix(":latest")

    manifest = skopeo_raw(server, ref)
    raw_digest = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    assert digest == "sha256:" + hashlib.sha256(raw_digest).hexdigest()
    # OCI image-spec 1.1, "Guidelines for artifact usage": artifactType set, empty config {}.
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == "application/vnd.imgsec.db.v1"
    config = manifest["config"]
    assert isinstance(config, dict)
    assert config["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert config["size"] == 2
    assert config["digest"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert server.blob_path(config["digest"]).read_bytes() == b"{}"
    layers = manifest["layers"]
    assert isinstance(layers, list) and len(layers) == 1
    assert layers[0]["mediaType"] == "application/vnd.imgsec.db.layer.v1.sqlite+zstd"
    annotations = manifest["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["org.opencontainers.image.created"] == before["built_at"]
    assert annotations["dev.imgsec.db.schema-version"] == str(before["schema_version"])
    assert json.loads(annotations["dev.imgsec.db.counts"]) == before["counts"]
    sources = before["sources"]
    assert isinstance(sources, list)
    assert json.loads(annotations["dev.imgsec.db.sources"]) == {s["source"]: s["records"] for s in sources}

    # The layer, as the zstd tool reads it from the registry's disk, is the very database file.
    blob = server.blob_path(layers[0]["digest"])
    assert blob.stat().st_size == layers[0]["size"]
    unpacked = subprocess.run(["zstd", "-d", "-c", str(blob)], capture_output=True, timeout=60, check=True)
    assert hashlib.sha256(unpacked.stdout).hexdigest() == sha256_file(source)

    pulled = run(["db", "pull", ref, "--cache-dir", str(tmp_path / "b"), "--insecure"], home)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout == ""
    assert sha256_file(tmp_path / "b" / "db" / "imgsec.db") == sha256_file(source)
    assert comparable(status(tmp_path / "b", home)) == comparable(before)
    assert sorted(p.name for p in (tmp_path / "b" / "db").iterdir() if p.name != ".imgsec.db.lock") == [
        "imgsec.db"
    ]

    # Pulling by digest works too, and replaces an existing database.
    make_db(tmp_path / "c", home, RECORDS[:1])
    by_digest = run(
        ["db", "pull", f"{name}@{digest}", "--cache-dir", str(tmp_path / "c"), "--insecure"], home
    )
    assert by_digest.returncode == 0, by_digest.stderr
    assert comparable(status(tmp_path / "c", home)) == comparable(before)


def test_push_and_pull_with_credentials_over_tls(
    registry_auth_tls: RegistryServer, home: Path, tmp_path: Path
) -> None:
    server = registry_auth_tls
    assert server.username and server.password and server.ca_cert
    make_db(tmp_path / "a", home, RECORDS)
    ref = f"{server.host}/team/db-{uuid.uuid4().hex[:8]}:v1"
    creds = ["--username", server.username, "--password-stdin", "--ca-cert", str(server.ca_cert)]

    anonymous = run(
        ["db", "push", ref, "--cache-dir", str(tmp_path / "a"), "--ca-cert", str(server.ca_cert)], home
    )
    assert anonymous.returncode == 2  # the registry refuses an anonymous push
    pushed = run(["db", "push", ref, "--cache-dir", str(tmp_path / "a"), *creds], home, stdin=server.password)
    assert pushed.returncode == 0, pushed.stderr
    assert server.password not in pushed.stdout + pushed.stderr
    assert skopeo_raw(server, ref)["artifactType"] == "application/vnd.imgsec.db.v1"

    pulled = run(["db", "pull", ref, "--cache-dir", str(tmp_path / "b"), *creds], home, stdin=server.password)
    assert pulled.returncode == 0, pulled.stderr
    assert comparable(status(tmp_path / "b", home)) == comparable(status(tmp_path / "a", home))


def test_a_tampered_layer_is_refused_and_the_old_database_kept(
    registry_plain: RegistryServer, home: Path, tmp_path: Path
) -> None:
    server = registry_plain
    make_db(tmp_path / "a", home, RECORDS)
    ref = f"{server.host}/imgsec/db-{uuid.uuid4().hex[:8]}:latest"
    assert run(["db", "push", ref, "--cache-dir", str(tmp_path / "a"), "--insecure"], home).returncode == 0
    old = make_db(tmp_path / "b", home, RECORDS[1:])
    old_hash = sha256_file(old)

    layer = skopeo_raw(server, ref)["layers"]
    assert isinstance(layer, list)
    blob = server.blob_path(layer[0]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    blob.write_bytes(bytes(data))

    pulled = run(["db", "pull", ref, "--cache-dir", str(tmp_path / "b"), "--insecure"], home)
    assert pulled.returncode == 2, pulled.stderr
    assert "digest" in pulled.stderr and "Traceback" not in pulled.stderr
    assert sha256_file(old) == old_hash
    assert sorted(p.name for p in old.parent.iterdir() if p.name != ".imgsec.db.lock") == ["imgsec.db"]


def test_pulling_an_ordinary_image_is_refused(
    registry_plain: RegistryServer, home: Path, tmp_path: Path
) -> None:
    server = registry_plain
    image = skopeo_push(build_layout(tmp_path / "layout"), server, f"apps/web-{uuid.uuid4().hex[:8]}")
    old = make_db(tmp_path / "b", home, RECORDS[:1])
    old_hash = sha256_file(old)
    pulled = run(["db", "pull", image, "--cache-dir", str(tmp_path / "b"), "--insecure"], home)
    assert pulled.returncode == 2
    assert "not an imgsec vulnerability database artifact" in pulled.stderr
    assert sha256_file(old) == old_hash


def test_a_database_of_another_schema_is_refused(
    registry_plain: RegistryServer, home: Path, tmp_path: Path
) -> None:
    """An artifact written by a future imgsec (schema 999), pushed here with skopeo from an OCI layout."""
    server = registry_plain
    source = make_db(tmp_path / "a", home, RECORDS)
    layout = tmp_path / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    packed = subprocess.run(["zstd", "-c", str(source)], capture_output=True, timeout=60, check=True).stdout
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.imgsec.db.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", **put(b"{}")},
        "layers": [{"mediaType": "application/vnd.imgsec.db.layer.v1.sqlite+zstd", **put(packed)}],
        "annotations": {"dev.imgsec.db.schema-version": "999"},
    }
    top = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **put(json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": "future"},
    }
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    ref = f"{server.host}/imgsec/db-{uuid.uuid4().hex[:8]}:future"
    copy = subprocess.run(
        [
            *("skopeo", "--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=false"),
            *(f"oci:{layout}:future", f"docker://{ref}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if copy.returncode != 0:
        pytest.skip(f"this skopeo cannot copy an OCI artifact: {copy.stderr.strip()}")

    pulled = run(["db", "pull", ref, "--cache-dir", str(tmp_path / "b"), "--insecure"], home)
    assert pulled.returncode == 2
    assert "schema 999" in pulled.stderr
    assert not (tmp_path / "b" / "db" / "imgsec.db").exists()


def test_an_unreachable_registry_exits_3(home: Path, tmp_path: Path) -> None:
    ref = f"127.0.0.1:{free_port()}/imgsec/db:latest"
    pulled = run(["db", "pull", ref, "--cache-dir", str(tmp_path / "b"), "--insecure"], home)
    assert pulled.returncode == 3, pulled.stderr
    make_db(tmp_path / "a", home, RECORDS[:1])
    pushed = run(["db", "push", ref, "--cache-dir", str(tmp_path / "a"), "--insecure"], home)
    assert pushed.returncode == 3, pushed.stderr


def test_push_without_a_database_exits_2(home: Path, tmp_path: Path) -> None:
    pushed = run(
        ["db", "push", "127.0.0.1:1/imgsec/db:latest", "--cache-dir", str(tmp_path / "x"), "--insecure"], home
    )
    assert pushed.returncode == 2
    assert "imgsec db update" in pushed.stderr
