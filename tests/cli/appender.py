"""A separate process keeping a log busy: 20 writers append until stdin closes; `ready` follows the first commit.

Run as `python -m tests.cli.appender DATABASE`; it stands in for a server appending beside the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from backend.audit.events import ServiceStarted
from backend.services import build_registry
from events import Metadata, SQLiteEventStore

WRITERS = 20


async def keep_appending(store: SQLiteEventStore, writer: int, stop: anyio.Event) -> None:
    count = 0
    while not stop.is_set():
        count += 1
        event = ServiceStarted(version=f"writer {writer} #{count}", data_dir="busy")
        await store.append(f"busy-{writer}", [event], metadata=Metadata(actor="appender"))


async def wait_for_stdin_to_close(stop: anyio.Event) -> None:
    await anyio.to_thread.run_sync(sys.stdin.read)
    stop.set()


async def main(database: Path) -> None:
    async with SQLiteEventStore.open(database, registry=build_registry(), synchronous="NORMAL") as store:
        first = ServiceStarted(version="first", data_dir="busy")
        await store.append("busy", [first], metadata=Metadata(actor="appender"))
        print("ready", flush=True)
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_stdin_to_close, stop)
            for writer in range(WRITERS):
                group.start_soon(keep_appending, store, writer, stop)
        print(await store.head(), flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
