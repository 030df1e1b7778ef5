"""Pytest fixtures for the upstreams: one running server per session, its scenario reset for every test."""

import socket
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
def foreign_server() -> Iterator[UpstreamServer]:
    with UpstreamServer() as server:
        yield server


@pytest.fixture
def foreign(foreign_server: UpstreamServer) -> Iterator[UpstreamServer]:
    """A recording listener on another origin (another port): where a key must never arrive unconfirmed."""
    foreign_server.scenario.reset()
    yield foreign_server
    foreign_server.scenario.reset()


@pytest.fixture(scope="session")
def refused_urls() -> Iterator[Urls]:
    """URLs of a server that has stopped: connecting is refused. Its port stays bound, never listening,
    so no other server can take it during the session."""
    server = UpstreamServer().start()
    server.stop()
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", server.port))
        yield server.urls
