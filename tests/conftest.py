"""Shared test set-up: async tests run on asyncio through anyio's own pytest plugin."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
