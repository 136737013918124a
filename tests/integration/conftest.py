"""Session-scoped real registries (``docker-registry`` processes) for integration tests.

``registry_plain`` (HTTP, no auth), ``registry_auth_tls`` (htpasswd + TLS with a self-signed CA) and
``registry_token`` (bearer tokens from a test token service).  Each yields a
:class:`tests.helpers.registry.RegistryServer` (``host``, ``username``, ``password``, ``ca_cert``, ...);
the processes are stopped at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.registry import RegistryServer, have_registry_tools, start_registry


def _serve(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[RegistryServer]:
    if not have_registry_tools():
        pytest.skip("docker-registry and htpasswd are needed (apt-get install docker-registry apache2-utils)")
    server = start_registry(tmp_path_factory.mktemp(f"registry-{mode}"), mode)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, "plain")


@pytest.fixture(scope="session")
def registry_auth_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, "auth_tls")


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, "token")
