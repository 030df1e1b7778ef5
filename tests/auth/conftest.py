"""Fixtures for auth tests: the real app on a real SQLite file, tokens issued through its API or the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.auth import Role
from backend.settings import Settings
from tests.api.conftest import free_port, served
from tests.conftest import api_client

__all__ = ["free_port", "served"]

Client = AsyncTestClient[Litestar]
SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with api_client(settings) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(client: Client, name: str, role: Role, admin: str | None = None) -> str:
    """Issue a token through the API (as `admin`, or in local mode) and return it."""
    headers = bearer(admin) if admin else {}
    response = await client.post("/api/v1/tokens", json={"name": name, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


@pytest.fixture
async def tokens(client: Client) -> dict[Role, str]:
    """One token per role; issuing the first ends local mode."""
    admin = await issue(client, "root", "admin")
    return {
        "admin": admin,
        "operator": await issue(client, "op", "operator", admin),
        "viewer": await issue(client, "eye", "viewer", admin),
    }


def switchboard(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the `switchboard` command on the test's data folder, as a separate process."""
    environment = {**os.environ, "SWITCHBOARD_DATA_DIR": str(settings.data_dir), **env}
    return subprocess.run([SWITCHBOARD, *args], env=environment, capture_output=True, text=True, timeout=60)
