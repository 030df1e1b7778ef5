"""`switchboard verify`: head position and hash, `--expect-head`, and no false break while another process appends."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend.services import build_registry
from events import SQLiteEventStore
from tests.cli.test_cli import SWITCHBOARD, switchboard

pytestmark = pytest.mark.anyio


@contextmanager
def appending(database: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process with 20 writers appending to `database` until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.cli.appender", str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.stdin.close()
        process.wait(timeout=60)


async def test_verify_never_reports_a_false_break_while_another_process_appends(tmp_path: Path) -> None:
    database = tmp_path / "events.sqlite3"
    with appending(database):
        async with SQLiteEventStore.open(database, registry=build_registry()) as store:
            reports = [await store.verify() for _ in range(50)]
            grew = await store.head()
    assert [report.reason for report in reports if not report.ok] == []
    assert reports[-1].checked > reports[0].checked and grew >= reports[-1].checked


async def test_verify_prints_head_position_and_hash_and_checks_an_expected_head(tmp_path: Path) -> None:
    with appending(tmp_path / "events.sqlite3"):
        pass
    done = switchboard(tmp_path, "verify", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["head_position"] > 1 and len(report["head_hash"]) == 64
    table = " ".join(switchboard(tmp_path, "verify").stdout.split())
    assert f"head position {report['head_position']} head hash {report['head_hash']}" in table
    same = switchboard(tmp_path, "verify", "--expect-head", report["head_hash"])
    assert same.returncode == 0, same.stderr
    other = switchboard(tmp_path, "verify", "--expect-head", "f" * 64)
    assert other.returncode == 1
    assert other.stderr.strip().count("\n") == 0 and "does not match" in other.stderr


async def test_verify_while_a_server_appends_from_the_command_line(tmp_path: Path) -> None:
    with appending(tmp_path / "events.sqlite3"):
        runs = [switchboard(tmp_path, "verify") for _ in range(3)]
    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]


def test_long_work_shows_a_progress_bar_on_a_terminal_and_nothing_when_piped(tmp_path: Path) -> None:
    with appending(tmp_path / "events.sqlite3"):
        pass
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path)}
    controller, terminal = pty.openpty()
    with subprocess.Popen([SWITCHBOARD, "verify"], env=env, stdout=subprocess.PIPE, stderr=terminal) as process:
        os.close(terminal)
        shown = b""
        while chunk := _read_terminal(controller):
            shown += chunk
        assert process.wait(timeout=60) == 0
    os.close(controller)
    assert b"verifying [" in shown and b"]" in shown
    assert switchboard(tmp_path, "verify").stderr == ""


def _read_terminal(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 4096)
    except OSError:  # the other end closed: Linux answers EIO
        return b""
