"""Shared test set-up: async tests run on asyncio through anyio's own pytest plugin."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


LOCAL_BASE_URL = "http://127.0.0.1:3000"
"""What in-process test clients call: a host name the app answers for (the default port's loopback origin)."""
