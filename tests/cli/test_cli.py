"""`switchboard events`, `verify`, and refusing a data folder whose database is not ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.audit.events import ServiceStarted
from backend.cli.main import event_socket_address
from backend.services import build_registry
from events import Metadata, SQLiteEventStore

SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


def switchboard(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir)}
    return subprocess.run([SWITCHBOARD, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    async with SQLiteEventStore.open(tmp_path / "events.sqlite3", registry=build_registry()) as store:
        for n in range(3):
            event = ServiceStarted(version=f"v{n}", data_dir=str(tmp_path))
            await store.append("service", [event], metadata=Metadata(actor="cli-test"))
    return tmp_path


@pytest.mark.anyio
async def test_events_prints_json_lines_after_a_position(data_dir: Path) -> None:
    result = switchboard(data_dir, "events", "--after", "1", "--type", "ServiceStarted")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["position"] for line in lines] == [2, 3]
    assert {line["actor"] for line in lines} == {"cli-test"}
    assert switchboard(data_dir, "events", "--type", "Nothing").stdout == ""


@pytest.mark.anyio
async def test_verify_reports_an_intact_chain(data_dir: Path) -> None:
    result = switchboard(data_dir, "verify")
    assert result.returncode == 0, result.stderr
    assert "3 events" in result.stdout


def test_a_foreign_file_is_named_and_left_untouched(tmp_path: Path) -> None:
    database = tmp_path / "events.sqlite3"
    database.write_bytes(b"not a database at all\n" * 100)
    before = database.read_bytes()
    for command in ("api", "run", "events", "verify"):
        result = switchboard(tmp_path, command)
        assert result.returncode == 2
        assert str(database) in result.stderr and "not a Switchboard event store" in result.stderr
    assert database.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.sqlite3"]


def test_reading_a_missing_log_creates_nothing(tmp_path: Path) -> None:
    result = switchboard(tmp_path / "absent", "events")
    assert result.returncode == 2 and "no event log" in result.stderr
    assert not (tmp_path / "absent").exists()


def test_pages_open_the_event_socket_at_the_address_users_type_when_origins_are_given() -> None:
    behind_a_proxy = {"SWITCHBOARD_ALLOWED_ORIGINS": "https://switchboard.example.com, http://10.0.0.5:8080"}
    assert event_socket_address(behind_a_proxy) == {"REFLEX_API_URL": "https://switchboard.example.com"}
    assert event_socket_address({"SWITCHBOARD_PORT": "3001"}) == {}  # on its own port: Reflex's own choice
