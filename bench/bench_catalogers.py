"""Cataloger and secret-scanner throughput, with python-debian as the peer for dpkg status files.

The dpkg cataloger has its own one-pass parser instead of python-debian's Deb822: this prints
the ratio measured in the same run, so the choice stays justified (or is reverted).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debian.deb822 import Deb822

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.dpkg import DpkgCataloger
from imgsec.secrets.detect import scan_bytes
from tests.fixtures import images


def best_of(n: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def deb822_all(content: bytes) -> list[Deb822]:
    return list(Deb822.iter_paragraphs(content.decode().splitlines(True)))


def main() -> None:
    rootfs = images.bookworm().rootfs
    assert rootfs is not None
    status = (rootfs / "var/lib/dpkg/status").read_bytes()
    paragraphs = status.decode().strip().split("\n\n")
    big = "\n\n".join(
        p.replace("Package: ", f"Package: n{i}-", 1) for i in range(23) for p in paragraphs
    ).encode()
    cat = DpkgCataloger()
    for label, content in (("bookworm status (88 packages)", status), ("2,024 packages", big)):
        info = FileInfo("var/lib/dpkg/status", 0o644, len(content), None)
        ours = best_of(5, partial(cat.catalog, info, content))
        peer = best_of(5, partial(deb822_all, content))
        print(
            f"dpkg {label}: imgsec {ours * 1000:.1f} ms, python-debian Deb822 {peer * 1000:.1f} ms, ratio {ours / peer:.2f}x"
        )
    hostile = {
        "jwt-prefix-run": b"eyJ" * 350_000,
        "endless-token": b"ghp_" + b"a" * 1_000_000,
        "aws-prefix-run": b"AKIA" * 250_000,
        "plain text": (b"the quick brown fox jumps over the lazy dog\n" * 25_000),
    }
    for label, content in hostile.items():
        t = best_of(3, partial(scan_bytes, content, "app/x.env"))
        print(f"secrets {label} ({len(content) / 1e6:.1f} MB): {t:.3f} s, {len(content) / t / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
