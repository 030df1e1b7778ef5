"""Pytest fixtures for the upstreams: one running server per session, its scenario reset for every test."""

from collections.abc import Iterator

import pytest

from tests.upstreams.server import UpstreamServer, Urls


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture
def upstream(upstream_server: UpstreamServer) -> Iterator[UpstreamServer]:
    upstream_server.scenario.reset()
    yield upstream_server
    upstream_server.scenario.reset()


@pytest.fixture(scope="session")
def refused_urls() -> Urls:
    """URLs of a server that has stopped: connecting to them is refused."""
    server = UpstreamServer().start()
    server.stop()
    return server.urls
