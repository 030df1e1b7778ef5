"""Fixtures for API tests: the real app on a real SQLite file, in-process or on a real port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import LOCAL_BASE_URL


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url=LOCAL_BASE_URL) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


START_S = 60
"""How long a test server may take to start (or stop): the app opens its store, vault and follower first, which on
PostgreSQL, on a busy machine, took over 10 s."""


@contextmanager
def serving_asgi(app: ASGIApp, **options: object) -> Iterator[str]:
    """An ASGI app served by uvicorn on a free 127.0.0.1 port, in a thread, until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_S)


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free 127.0.0.1 port, in a thread, until the block ends; yields its base URL."""
    with serving_asgi(create_app(settings), log_level="warning") as url:
        yield url


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    with serving(settings) as base_url:
        yield base_url
