"""`switchboard migrate --to postgresql://...`: a data folder's log, views and keys copied into an empty PostgreSQL
schema as they are, checked to end at the same hash; a non-empty or broken source or target is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import asyncpg
import pytest

from backend.audit.events import ServiceStarted
from backend.auth.commands import open_tokens
from backend.instances.vault_storage import master_of_key_file
from backend.secret import Secret
from backend.services import build_registry, open_services
from backend.settings import Settings
from events import Metadata
from events.open import open_event_store
from tests.cli.test_backup import COLUMNS, fields
from tests.cli.test_cli import switchboard
from tests.cli.test_vault_rekey import keyed_folder
from tests.instances.conftest import OTHER_SECRET, SECRET
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio


async def target_rows(url: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(f"SELECT {COLUMNS} FROM events ORDER BY position")]
    finally:
        await conn.close()


def source_rows(database: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY position").fetchall()


async def test_a_data_folder_moves_to_postgresql_with_its_positions_times_and_hash_chain(
    tmp_path: Path, upstream: UpstreamServer, postgres_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    before = source_rows(settings.database_path)

    moved = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", postgres_url)

    assert moved.returncode == 0, moved.stderr
    shown = fields(moved.stdout)
    assert shown["copied"] == f"{len(before)} events" and shown["head position"] == str(before[-1][0])
    assert shown["head hash"] == before[-1][-1]
    copied = await target_rows(postgres_url)
    assert copied[: len(before)] == before  # ids, positions, times and hashes as they were
    added = [row[4] for row in copied[len(before):]]  # each view built from the copy is logged, then the move
    assert added[-1] == "LogMigrated" and set(added[:-1]) == {"ViewRebuilt"} and len(added) > 2
    assert source_rows(settings.database_path) == before  # the source is left as it was


async def test_the_vault_moves_too_and_replicas_open_it_with_the_key_files_master(
    tmp_path: Path, upstream: UpstreamServer, postgres_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ids = await keyed_folder(settings, upstream)
    async with open_tokens(settings) as tokens:
        issued = await tokens.issue("ci", "admin", Metadata(actor="test"))

    moved = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", postgres_url)

    assert moved.returncode == 0, moved.stderr
    assert fields(moved.stdout)["vault files"] == "2" and "SWITCHBOARD_MASTER_KEY=base64:" in moved.stderr
    replica = Settings(
        data_dir=tmp_path / "replica", master_key=master_of_key_file(settings.key_file), database_url=Secret(postgres_url)
    )
    async with open_services(replica) as services:
        keys = [await services.instances.vault.load(instance_id, 1) for instance_id in ids]
        assert [key.reveal() if key else None for key in keys] == [SECRET, OTHER_SECRET]
        assert await services.tokens.principal(issued.token) is not None  # the token key came along
    assert not list(replica.data_dir.iterdir())  # no key file, token key or credentials folder made


async def test_a_target_that_already_holds_a_log_is_refused_and_left_as_it_was(
    tmp_path: Path, upstream: UpstreamServer, postgres_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    first = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", postgres_url)
    assert first.returncode == 0, first.stderr
    held = await target_rows(postgres_url)

    again = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", postgres_url)

    assert again.returncode == 1 and "already holds a log" in again.stderr
    assert await target_rows(postgres_url) == held


async def test_a_url_that_is_not_postgresql_is_refused(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    refused = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", "mysql://db/x")
    assert refused.returncode == 2 and "must be a PostgreSQL URL" in refused.stderr


async def test_a_target_holding_another_log_gets_none_of_the_folders_keys(
    tmp_path: Path, upstream: UpstreamServer, postgres_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    async with open_event_store(postgres_url, registry=build_registry()) as store:
        await store.append("service", [ServiceStarted(version="other", data_dir="elsewhere")], metadata=Metadata(actor="x"))

    refused = await anyio.to_thread.run_sync(switchboard, settings.data_dir, "migrate", "--to", postgres_url)

    assert refused.returncode == 1 and "already holds a log" in refused.stderr
    conn = await asyncpg.connect(postgres_url)
    try:
        blobs = await conn.fetchval("SELECT to_regclass('credential_blobs')")
    finally:
        await conn.close()
    assert blobs is None  # nothing of the vault was written before the refusal
