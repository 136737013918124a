"""Project-wide pytest fixtures: real test images, built once and cached (see tests/fixtures/images.py).

Each fixture is session scoped and returns a :class:`fixtures.images.FixtureImage`
(``layout``, ``tag``, ``oci_archive``, ``docker_archive``, ``rootfs``, ``expected``, ``info``).
The first use builds the image (bookworm ~35 s, langs ~40 s more, the rest < 1 s);
later runs and other xdist workers reuse the cache. Treat the returned paths as
read-only: they are shared by every test and every worker.
"""

from __future__ import annotations

import pytest

from tests.fixtures.images import FixtureImage, bookworm, langs, multiplatform, tricky, tricky_zstd


@pytest.fixture(scope="session")
def bookworm_image() -> FixtureImage:
    """Debian 12 minbase, one layer, root, cmd /bin/bash; ``rootfs`` is the debootstrap tree."""
    return bookworm()


@pytest.fixture(scope="session")
def langs_image() -> FixtureImage:
    """bookworm + PyPI, npm, Go, Java, gem and Rust layers (7 layers, user 1000); see ``info``."""
    return langs()


@pytest.fixture(scope="session")
def tricky_image() -> FixtureImage:
    """Hand-made gzip layers: whiteouts, opaque dirs, links, dpkg upgrades, deleted secrets; see ``expected``."""
    return tricky()


@pytest.fixture(scope="session")
def tricky_zstd_image() -> FixtureImage:
    """The tricky image with zstd-compressed layers (``tar+zstd``); same diff_ids and ``expected``."""
    return tricky_zstd()


@pytest.fixture(scope="session")
def multiplatform_image() -> FixtureImage:
    """One tag -> image index -> linux/amd64 and linux/arm64/v8 manifests; see ``expected``."""
    return multiplatform()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failing test: every program the suite needs is installed by `make test`.

    A skip would let a green run hide a missing install step, so the run fails instead; set
    IMGSEC_ALLOW_SKIPS=1 to run a partial suite on a machine without some of the tools.
    """
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:  # an xdist worker: the controller decides
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped and not os.environ.get("IMGSEC_ALLOW_SKIPS") and exitstatus == 0:
        reporter.write_line(
            f"imgsec: {len(skipped)} test(s) skipped; failing the run (IMGSEC_ALLOW_SKIPS=1 allows it)"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
