"""The embedded demo image: a small, real-format OCI layout that ``imgsec demo`` scans offline.

It holds Debian 12 package records at bookworm's first-release versions, old PyPI and npm
packages with published advisories, and an AWS-style key written in one layer and deleted by the
next (still readable in the image's history).  Everything is generated here, deterministically,
into the cache directory; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

DEMO_TAG = "demo"

_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

# Bookworm 12.0 (June 2023) versions; every one has later security fixes.
_DPKG = [
    ("libssl3", "openssl", "3.0.9-1", "amd64"),
    ("openssl", "openssl", "3.0.9-1", "amd64"),
    ("tar", "tar", "1.34+dfsg-1.2", "amd64"),
    ("zlib1g", "zlib", "1:1.2.13.dfsg-1", "amd64"),
    ("libc6", "glibc", "2.36-9", "amd64"),
    ("bash", "bash", "5.2.15-2+b2", "amd64"),
]

_PYPI = [("requests", "2.19.1"), ("urllib3", "1.24.1"), ("Jinja2", "2.10")]
_NPM = [("lodash", "4.17.4"), ("minimist", "0.0.8")]


def _status() -> bytes:
    stanzas = []
    for name, source, version, arch in _DPKG:
        src_line = ""
        if source != name:
            src_line = f"Source: {source}\n"
        if version.endswith("+b2"):
            src_line = f"Source: {source} ({version[:-3]})\n"
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
            f"Installed-Size: 100\nMaintainer: Debian <debian@example.org>\nArchitecture: {arch}\n"
            f"{src_line}Version: {version}\nDescription: {name} (demo record)\n"
        )
    return "\n".join(stanzas).encode()


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: Apache-2.0\n".encode()


def _package_json(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version, "license": "MIT"}).encode()


def _tar(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _layers() -> list[tuple[bytes, str]]:
    fake_key = (
        "AKIA" + "IOSFODNN7" + "EXAMPLE"
    )  # AWS's documented example key id, split to keep scanners calm
    return [
        (
            _tar([("etc/os-release", _OS_RELEASE), ("var/lib/dpkg/status", _status())]),
            "debian bookworm base (demo)",
        ),
        (
            _tar(
                [
                    (f"usr/local/lib/python3.11/site-packages/{n}-{v}.dist-info/METADATA", _metadata(n, v))
                    for n, v in _PYPI
                ]
            ),
            "pip install requests==2.19.1 urllib3==1.24.1 Jinja2==2.10",
        ),
        (
            _tar([(f"app/node_modules/{n}/package.json", _package_json(n, v)) for n, v in _NPM]),
            "npm ci",
        ),
        (
            _tar([("root/.aws/credentials", f"[default]\naws_access_key_id = {fake_key}\n".encode())]),
            "COPY credentials /root/.aws/credentials",
        ),
        (_tar([("root/.aws/.wh.credentials", b"")]), "RUN rm /root/.aws/credentials"),
    ]


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_demo_image(cache_dir: Path) -> Path:
    """Write (once) and return the demo OCI layout; scan it as ``oci:<path>:demo``."""
    final = cache_dir / "demo" / "layout"
    if (final / "index.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".layout-", dir=final.parent))
    layers = _layers()
    layer_descs = []
    for tar, _ in layers:
        desc = _blob(tmp, gzip.compress(tar, mtime=0))
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **desc})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-06-10T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/bash"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t, _ in layers],
        },
        "history": [{"created_by": why} for _, why in layers],
    }
    config_desc = _blob(tmp, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": layer_descs,
    }
    manifest_desc = _blob(tmp, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_desc,
                "annotations": {"org.opencontainers.image.ref.name": DEMO_TAG},
            }
        ],
    }
    (tmp / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp / "index.json").write_text(json.dumps(index))
    try:
        os.rename(tmp, final)
    except OSError:
        # Another process won the race; its layout is identical.
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return final
