"""Fixtures for instance tests: the real app on a real SQLite file, and the local upstream servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.instances import Instances, Vault
from backend.instances.key_blobs import FileBlobs
from backend.instances.vault import name_of
from backend.settings import Settings
from tests.conftest import LOCAL_BASE_URL
from tests.upstreams.fixtures import foreign, foreign_server, refused_urls, upstream, upstream_server

__all__ = ["foreign", "foreign_server", "refused_urls", "upstream", "upstream_server"]

Client = AsyncTestClient[Litestar]
SECRET = "sk-switchboard-plaintext-9f8e7d6c5b4aQRST"
OTHER_SECRET = "sk-switchboard-rotated-1a2b3c4d5e6fWXYZ"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings), base_url=LOCAL_BASE_URL) as test_client:
        yield test_client


def instances_of(client: Client) -> Instances:
    instances: Instances = client.app.state.services.instances
    return instances


def vault_folder(vault: Vault) -> Path:
    """The credentials folder of a vault kept in files (the default, with the log in SQLite)."""
    assert isinstance(vault.blobs, FileBlobs)
    return vault.blobs.folder


def key_path(vault: Vault, instance_id: str, version: int) -> Path:
    """The file of that key version in a vault kept in files."""
    return vault_folder(vault) / name_of(instance_id, version)


async def create(client: Client, **fields: object) -> dict[str, object]:
    """Create an instance (OpenAI by default) and return its JSON; fails the test on refusal."""
    body = {"name": "OpenAI Dev", "provider_id": "openai", **fields}
    response = await client.post("/api/v1/instances", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def error_fields(response_json: dict[str, object]) -> set[str]:
    errors = response_json.get("errors", [])
    assert isinstance(errors, list)
    return {str(error["field"]) for error in errors}
