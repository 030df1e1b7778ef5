"""A PostgreSQL schema of its own for each test that needs the server: the `postgres_url` fixture (registered in
tests/conftest.py). Without a server answering at SWITCHBOARD_TEST_POSTGRES (default the local test database),
those tests are skipped, saying why."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg
import pytest

SERVER = os.environ.get("SWITCHBOARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CONNECT_SECONDS = 3
_unavailable: list[str] = []  # why the server could not be reached, once found


def schema_url(schema: str) -> str:
    """The server's URL with `schema` as the search path (asyncpg sends unknown query parameters as settings)."""
    separator = "&" if "?" in SERVER else "?"
    return f"{SERVER}{separator}search_path={schema}"


async def _run(sql: str) -> None:
    conn = await asyncpg.connect(SERVER, timeout=CONNECT_SECONDS)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search path is a new, empty schema, dropped (with everything in it) after the test."""
    if _unavailable:
        pytest.skip(_unavailable[0])
    schema = f"sb_{secrets.token_hex(6)}"
    try:
        asyncio.run(_run(f'CREATE SCHEMA "{schema}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        _unavailable.append(f"no PostgreSQL server to test against at {SERVER}: {type(error).__name__}: {error}")
        pytest.skip(_unavailable[0])
    yield schema_url(schema)
    asyncio.run(_run(f'DROP SCHEMA "{schema}" CASCADE'))
