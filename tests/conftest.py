"""Shared test set-up: async tests run on asyncio through anyio's own pytest plugin."""

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import Settings
from tests.postgres import postgres_url  # noqa: F401  (a fixture for every test folder)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


LOCAL_BASE_URL = "http://127.0.0.1:3000"
"""What in-process test clients call: a host name the app answers for (the default port's loopback origin)."""


def api_client(settings: Settings) -> AsyncTestClient[Litestar]:
    """An in-process client of the real app on `settings`, calling it by a host name it answers for."""
    return AsyncTestClient(app=create_app(settings), base_url=LOCAL_BASE_URL)
