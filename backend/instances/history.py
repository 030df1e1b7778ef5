"""An instance's history from the log (also after its deletion): all of it oldest first, or a page newest first."""

from __future__ import annotations

import msgspec

from backend.errors import NotFound
from backend.instances.events import stream_of
from events import EventStore, StoredEvent

HISTORY_PAGE = 100  # a page's size when only `before` is given
HISTORY_PAGE_MAX = 500


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """Events newest first; `older` is the `before` that continues below them (None: none are left)."""

    events: list[StoredEvent]
    older: int | None


async def whole_history(store: EventStore, instance_id: str) -> list[StoredEvent]:
    events = await store.read_stream(stream_of(instance_id))
    if not events:
        raise NotFound(f"no instance {instance_id!r}")
    return events


async def history_page(store: EventStore, instance_id: str, limit: int, before: int | None) -> HistoryPage:
    """Up to `limit` of the instance's events below position `before` (from the newest when None), newest first."""
    stream = stream_of(instance_id)
    if not await store.stream_version(stream):
        raise NotFound(f"no instance {instance_id!r}")
    below = "" if before is None else " AND position < ?"
    params: list[object] = [stream] if before is None else [stream, before]
    found = await store.read_where("stream_id = ?" + below, params, limit=limit + 1, descending=True)
    newest_first = found[::-1][:limit]
    older = newest_first[-1].position if len(found) > limit else None
    return HistoryPage(events=newest_first, older=older)
