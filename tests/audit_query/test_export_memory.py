"""The export holds one page in memory: 200,000 events exported from a `switchboard api` child process grow its
resident memory (read from /proc) by less than 50 MB."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from backend.audit.events import ServiceStarted
from backend.services import build_registry
from events import Metadata, SQLiteEventStore
from tests.api.conftest import free_port

EVENTS = 200_000
BATCH = 1000
LIMIT_BYTES = 50 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


async def _seed(path: Path) -> None:
    async with SQLiteEventStore.open(path, registry=build_registry(), synchronous="OFF") as store:
        for batch in range(EVENTS // BATCH):
            events = [ServiceStarted(version=f"{batch}.{n}", data_dir=f"/srv/bulk/{batch}/{n}") for n in range(BATCH)]
            await store.append(f"bulk-{batch}", events, metadata=Metadata(actor="loader"))


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB, as the kernel reports them."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`switchboard api` on a seeded data folder, as its own process; yields its base URL and pid."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    anyio.run(_seed, data_dir / "events.sqlite3")
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_PORT": str(port), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "api"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    try:
        for line in server.stderr:  # uvicorn says when it serves; the pipe ends if the process dies first
            if "Application startup complete" in line:
                break
        else:
            pytest.fail(f"switchboard api exited with {server.wait()} before serving")
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def exported_lines(http: httpx.Client, params: dict[str, str]) -> int:
    count = 0
    with http.stream("GET", "/api/v1/audit/export", params=params) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            count += bool(line)
    return count


def test_exporting_200000_events_keeps_memory_flat(api_process: tuple[str, int]) -> None:
    base_url, pid = api_process
    with httpx.Client(base_url=base_url, timeout=600) as http:
        head = http.get("/api/v1/health").json()["last_position"]
        assert exported_lines(http, {"after": str(head - 2 * BATCH)}) == 2 * BATCH  # warm: every code path loaded
        assert exported_lines(http, {"after": str(head - 2 * BATCH), "format": "csv"}) == 2 * BATCH + 1
        before = memory_kib(pid)
        assert exported_lines(http, {"before": str(head + 1)}) == head
        assert exported_lines(http, {"stream": "bulk-", "format": "csv"}) == EVENTS + 1
        after = memory_kib(pid)
    grown = {name: (after[name] - before[name]) * 1024 for name in after}
    assert grown["VmRSS"] < LIMIT_BYTES and grown["VmHWM"] < LIMIT_BYTES, (before, after)
