"""Fixtures for provider tests: the shared upstream server and one httpx client per test."""

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.upstreams.fixtures import refused_urls, upstream, upstream_server

__all__ = ["client", "refused_urls", "upstream", "upstream_server"]

TLS = ssl.create_default_context()  # loading CA certificates is the slow part of making a client: do it once


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=TLS) as shared:
        yield shared
