"""`switchboard backup` while 20 writers append, then `restore` into an empty folder: the same log, the same keys."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from backend.settings import Settings
from tests.cli.test_cli import switchboard
from tests.cli.test_vault_rekey import keyed_folder
from tests.cli.test_verify import appending
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio
COLUMNS = "position, stream_id, version, event_id, type, data, metadata, recorded_at, hash"


def rows(database: Path, up_to: int) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM events WHERE position <= ? ORDER BY position", (up_to,)).fetchall()


def modes(folder: Path) -> set[tuple[str, int]]:
    """(kind, permission bits) of everything under `folder` except the lock file."""
    found = {("dir", stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        if path.name != "vault.lock":
            found.add(("dir" if path.is_dir() else "file", stat.S_IMODE(path.stat().st_mode)))
    return found


def fields(output: str) -> dict[str, str]:
    pairs = (line.split("  ", 1) for line in output.splitlines() if "  " in line)
    return {name.strip(): value.strip() for name, value in pairs}


async def test_backup_while_20_writers_append_restores_the_same_log_and_keys(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    source = Settings(data_dir=tmp_path / "data")
    ids = await keyed_folder(source, upstream)
    with appending(source.database_path):
        made = switchboard(source.data_dir, "backup", str(tmp_path / "backup"))
        during = switchboard(source.data_dir, "verify", "--json")
    assert made.returncode == 0, made.stderr
    assert during.returncode == 0, during.stderr
    backed = fields(made.stdout)
    head = int(backed["head position"])
    assert head > 10  # the writers were appending around it
    assert not (tmp_path / "backup" / "master.key").exists() and "master key" not in made.stderr
    assert modes(tmp_path / "backup") == {("dir", 0o700), ("file", 0o600)}

    target = Settings(data_dir=tmp_path / "restored")
    restored = switchboard(target.data_dir, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    assert fields(restored.stdout)["head hash"] == backed["head hash"]
    assert rows(target.database_path, head) == rows(source.database_path, head)
    assert modes(target.data_dir) == {("dir", 0o700), ("file", 0o600)}
    for output in (made, restored, during):
        assert SECRET not in output.stdout + output.stderr and OTHER_SECRET not in output.stdout + output.stderr

    upstream.scenario.key = SECRET
    key = source.key_file.read_text()  # the master key travels apart from the backup
    (target.key_file).write_text(key)
    os.chmod(target.key_file, 0o600)
    async with api_client(target) as client:
        tested = (await client.post(f"/api/v1/instances/{ids[0]}/test")).json()
        assert tested["last_test"]["outcome"] == "ok"
        [event] = (await client.get("/api/v1/events", params={"type": "BackupRestored"})).json()["events"]
        assert event["actor"].startswith("cli:") and event["data"]["head_position"] == head
    async with api_client(source) as client:
        [event] = (await client.get("/api/v1/events", params={"type": "BackupMade"})).json()["events"]
        assert event["data"]["head_hash"] == backed["head hash"] and event["data"]["vault_files"] >= 2


async def test_the_master_key_is_copied_only_when_asked_with_a_warning(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    source = Settings(data_dir=tmp_path / "data")
    await keyed_folder(source, upstream)
    made = switchboard(source.data_dir, "backup", "--include-master-key", str(tmp_path / "backup"))
    assert made.returncode == 0, made.stderr
    assert "warning" in made.stderr and "master key" in made.stderr
    copied = tmp_path / "backup" / "master.key"
    assert copied.read_bytes() == source.key_file.read_bytes()
    assert copied.read_text().strip() not in made.stdout + made.stderr
    assert json.loads((tmp_path / "backup" / "backup.json").read_text())["master_key_included"] is True


async def test_restore_refuses_a_non_empty_folder_unless_forced(tmp_path: Path, upstream: UpstreamServer) -> None:
    source = Settings(data_dir=tmp_path / "data")
    await keyed_folder(source, upstream)
    assert switchboard(source.data_dir, "backup", str(tmp_path / "backup")).returncode == 0
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    refused = switchboard(occupied, "restore", str(tmp_path / "backup"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert sorted(path.name for path in occupied.iterdir()) == ["notes.txt"]
    forced = switchboard(occupied, "restore", "--force", str(tmp_path / "backup"))
    assert forced.returncode == 0, forced.stderr
    assert "ok:" in forced.stdout and (occupied / "events.sqlite3").exists()
    again = switchboard(source.data_dir, "backup", str(tmp_path / "backup"))
    assert again.returncode == 2 and "not an empty folder" in again.stderr


async def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    refused = switchboard(tmp_path / "target", "restore", str(tmp_path / "nothing"))
    assert refused.returncode == 2 and "not a finished Switchboard backup" in refused.stderr
    assert not (tmp_path / "target").exists()
