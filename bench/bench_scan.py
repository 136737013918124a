"""imgsec scan (SBOM + matching) cold and warm, against syft's SBOM-only time, in one run.

Goals (issue 3): a full cold scan <= 0.5x syft's SBOM-only wall time on the same image; a warm
re-scan (per-layer cache populated) under 0.5 s.  Prints the ratios; exits 0.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import BIN, measure, report
from tests.fixtures import images

MIRROR = Path(__file__).resolve().parent.parent.parent / "shared" / "vulndata"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="imgsec-bench-scan-"))
    try:
        db_cache = work / "cache"
        subprocess.run(
            [
                str(BIN / "imgsec"),
                "db",
                "update",
                "--mirror",
                str(MIRROR),
                "--cache-dir",
                str(db_cache),
                "-q",
            ],
            check=True,
        )
        for name, fixture in (("bookworm", images.bookworm), ("langs", images.langs)):
            img = fixture()
            spec = f"oci:{img.layout}:{img.tag}"
            scan = [
                str(BIN / "imgsec"),
                "scan",
                spec,
                "--scanners",
                "vuln",
                "-f",
                "json",
                "-q",
                "--cache-dir",
            ]
            # Cold: every run starts with an empty layer cache but the same database.
            cold_runs = []
            for i in range(3):
                cache = work / f"cold-{name}-{i}"
                shutil.copytree(db_cache, cache)
                cold_runs.append(measure("imgsec scan (cold)", [*scan, str(cache)], runs=1, warmup=False))
            cold = sorted(cold_runs, key=lambda m: m.seconds)[1]
            warm = measure("imgsec scan (warm)", [*scan, str(work / f"cold-{name}-0")])
            syft = measure(
                "syft (SBOM only)",
                [str(BIN / "syft"), f"oci-dir:{img.layout}", "-o", "syft-json", "-q"],
                env={"SYFT_CHECK_FOR_APP_UPDATE": "false"},
            )
            print(f"{name} ({spec})")
            report([cold, warm, syft], syft)
            print(f"  cold scan / syft SBOM: {cold.seconds / syft.seconds:.2f}x (goal <= 0.5)")
            print(f"  warm re-scan: {warm.seconds:.3f} s (goal < 0.5 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
