"""Work on the log that every backend does the same way through a ViewTransaction: creating, upgrading, replaying
and comparing views, and walking the hash chain for verify."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import msgspec

from events.chain import GENESIS_HASH, VerifyReport, event_hash
from events.event import Metadata
from events.planning import new_event_id
from events.rows import NO_POSITION, Page, page_query
from events.sql import Dialect, ViewTransaction
from events.views import (
    CatchUpView,
    InlineView,
    ViewComparison,
    ViewRebuild,
    compared,
    read_checkpoint,
    read_view_version,
    write_checkpoint,
    write_rebuild,
    write_view_version,
)

PAGE = 1000
VERIFY_COLUMNS = (
    "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash, actor"
)
VerifyRow = tuple[int, str, int, str, str, int, str, str, str, str, str]
View = InlineView | CatchUpView
Progress = Callable[[int, int], None]


@lru_cache(maxsize=4)
def _between_positions(dialect: Dialect) -> str:
    return page_query(dialect, "position > ? AND position <= ?")


async def upgrade_view(view: View, tx: ViewTransaction, *, inline: bool) -> ViewRebuild | None:
    """Create the view, and rebuild it from the log if its recorded version is not its code's; the rebuild is
    kept (until logged) in the same transaction. None when nothing was rebuilt."""
    recorded = await read_view_version(tx, view.name)
    await view.create(tx)
    if recorded == view.version:
        return None
    if recorded is None and not await _may_hold_rows(view, tx, inline=inline):
        await write_view_version(tx, view.name, view.version)
        return None
    started = time.perf_counter()
    replayed = await replay_view(view, tx, inline=inline)
    milliseconds = round((time.perf_counter() - started) * 1000, 3)
    rebuild = ViewRebuild(
        view=view.name, from_version=recorded or 0, to_version=view.version, events=replayed,
        milliseconds=milliseconds, event_id=new_event_id(),
    )
    await write_rebuild(tx, rebuild)
    return rebuild


async def _may_hold_rows(view: View, tx: ViewTransaction, *, inline: bool) -> bool:
    """Whether the view may have rows written by some version: an inline view once the log holds events,
    a catch-up view once it has applied any."""
    if inline:
        return bool(await tx.fetch("SELECT 1 FROM events LIMIT 1"))
    return await read_checkpoint(tx, view.name) > 0


async def replay_view(view: View, tx: ViewTransaction, *, inline: bool) -> int:
    """Empty the view and apply the whole log to it, recording its version; returns how many events were replayed."""
    await view.create(tx)
    position, replayed = await _refill(view, tx, until=None)
    if not inline:
        await write_checkpoint(tx, view.name, position)
    await write_view_version(tx, view.name, view.version)
    return replayed


async def compare_view(view: View, tx: ViewTransaction, *, inline: bool) -> ViewComparison:
    """The view's rows beside a replay of the log into it (a catch-up view's up to its checkpoint); the replay is
    undone with a savepoint."""
    await view.create(tx)
    stored = await view.rows(tx)
    until = None if inline else await read_checkpoint(tx, view.name)
    await tx.execute("SAVEPOINT view_check")
    try:
        await _refill(view, tx, until)
        rebuilt = await view.rows(tx)
    finally:
        await tx.execute("ROLLBACK TO SAVEPOINT view_check")
        await tx.execute("RELEASE SAVEPOINT view_check")
    return compared(view.name, stored, rebuilt)


async def forget_rebuild(event_id: str, tx: ViewTransaction) -> None:
    await tx.execute("DELETE FROM view_rebuilds WHERE event_id = ?", (event_id,))


async def _refill(view: View, tx: ViewTransaction, until: int | None) -> tuple[int, int]:
    """Empty the view and apply the log to it, all of it or up to position `until`: (last position, events applied)."""
    await view.reset(tx)
    position, replayed = 0, 0
    sql = _between_positions(tx.dialect)
    while True:
        rows = await tx.fetch(sql, (position, NO_POSITION if until is None else until, PAGE))
        page = Page(*rows[0])  # type: ignore[arg-type]
        if not page.count:
            break
        await view.apply(tx, page.decode())
        position, replayed = page.last_position, replayed + page.count
    return position, replayed


async def verify_chain(tx: ViewTransaction, highest: int, progress: Progress) -> VerifyReport:
    """Recompute the chain over the rows `tx` sees (one snapshot), `highest` being the last position the log
    reached: rows missing below it, even at the end, are reported."""
    previous, checked = GENESIS_HASH, 0
    while rows := await tx.fetch(
        f"SELECT {VERIFY_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?", (checked, PAGE)
    ):
        for row in rows:
            checked += 1
            reason = _row_fault(row, checked, previous)  # type: ignore[arg-type]
            if reason:
                return VerifyReport(ok=False, checked=checked, first_bad_position=checked, reason=reason)
            previous = str(row[9])
        progress(checked, highest)
    if highest > checked:
        return VerifyReport(
            ok=False, checked=checked, first_bad_position=checked + 1,
            reason=f"events after position {checked} are missing (the log reached {highest})",
        )
    return VerifyReport(ok=True, checked=checked, head_hash=previous)


def no_progress(_checked: int, _head: int) -> None:
    return None


def _row_fault(row: VerifyRow, expected_position: int, previous: str) -> str:
    """Why a row breaks the chain, or "" if it holds."""
    position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash, actor = row
    if position != expected_position:
        return f"position {expected_position} is missing (next row is {position})"
    recomputed = event_hash(previous, position, stream_id, version, event_id, type,
                            schema_version, data, metadata, recorded_at)
    if recomputed != hash:
        return f"the hash of position {position} does not match its content and the previous hash"
    if msgspec.json.decode(metadata, type=Metadata).actor != actor:
        return f"the actor column of position {position} differs from its metadata"
    return ""
