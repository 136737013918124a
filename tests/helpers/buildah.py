"""Real images from a Dockerfile with buildah (vfs storage, chroot isolation: no daemon, no root
namespaces needed), on a tiny root filesystem made of host binaries.  Used by fixture builders,
which cache the result keyed by the hash of their own source and of this module's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def tiny_rootfs(root: Path, tools: Sequence[tuple[str, str]]) -> None:
    """``/bin/<name>`` for each (name, host binary), with the shared libraries ``ldd`` names, and
    an ``etc/passwd`` with root: enough for ``RUN`` steps under ``--isolation chroot``."""
    for name, binary in tools:
        dest = root / "bin" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, dest)
        for lib in re.findall(r"(/\S+\.so[.\d]*)", run(["ldd", binary])):
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(lib).resolve(), target)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")


def build_oci_layout(ctx: Path, out: Path, name: str, tag: str) -> Path:
    """``buildah bud`` the Dockerfile in ``ctx``, push it to the OCI layout ``out/layout:tag``
    (returned), and remove buildah's storage again."""
    policy = out / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    store = ["--root", str(out / "storage"), "--runroot", str(out / "run"), "--storage-driver", "vfs"]
    run(["buildah", *store, "bud", "--signature-policy", str(policy), "--isolation", "chroot", "--layers",
         "-q", "-t", f"{name}:{tag}", str(ctx)])  # fmt: skip
    run(["buildah", *store, "push", "-q", "--signature-policy", str(policy), f"{name}:{tag}",
         f"oci:{out / 'layout'}:{tag}"])  # fmt: skip
    run(["buildah", *store, "rmi", "-a", "-f"])
    shutil.rmtree(out / "storage", ignore_errors=True)
    shutil.rmtree(out / "run", ignore_errors=True)
    return out / "layout"
