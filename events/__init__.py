"""Switchboard's event-sourcing core: event types, the SQLite event store, subscriptions and read views.

Details beyond the agreed API:
- `EventStore` is the protocol every backend meets (the conformance suite in tests/events runs on it);
  `SQLiteEventStore` adds `durability()` and `path`.
- More on the store: `subscribe_batches(after, batch_size=)`, `run_catch_up(view, batch_size=)`
  yielding its `CatchUpRunner` (`position`, `wait_until(position)`; `follow()` runs it in a task of its
  own, after which `wait_until` raises FollowerStopped), `checkpoint(view_name)`,
  `write_transaction(work)` (view machinery only), `transactions` (commits so far), `registry`;
  `open()` takes `poll_interval` (seconds between looks for other processes' appends).
- `read_where` / `read_page` read a page of events matching SQL over a `Source` (the events table, or a view
  of positions joined to it that drives the query in its own key order); `read_page` leaves the page
  undecoded, written by any `record` expression, for `Page.decode_as`.
- `append` refuses event classes its registry does not know (`UnknownEventType`), and ids that are
  already stored but not as this same append (`EventIdReused`); a closed store raises `StoreClosed`.
- At most `events.writer.QUEUE_LIMIT` appends and writer jobs wait for the writer; callers beyond that wait
  for room in turn (back-pressure). `backlog()` says how many are queued and held back.
- `recorded_at` is stored as fixed-width UTC ISO-8601 text (`2026-01-02T03:04:05.000006Z`) and never
  goes back in time along the log, so `since`/`until` follow position order.
- `VerifyReport.head_hash` is the hash of the last event. The chain is not keyed: keep that hash
  somewhere else to detect a rewrite of the whole log.
- Views carry a code `version`; `open()` rebuilds inline views whose recorded version differs (see
  `rebuilt_views`), `upgrade_views(views)` does the same for catch-up views, and `rebuild` records it.
  Each such rebuild is kept, from its own transaction, until `rebuild_logged`: `unlogged_rebuilds()`
  lists them, each with the `event_id` to log it under (so logging it twice stores it once).
- Each view answers its `rows`; `compare_with_rebuild(view)` sets them beside a replay of the log (undone
  afterwards), and `table_rows(conn, *tables)` answers them for a view kept in plain tables.
- `followers` (`FollowerHealth`) lists the catch-up views, and the followers that report there, which stopped
  on an error.
- The store runs on asyncio (aiosqlite needs it).
- `events.postgres.store.PostgresEventStore.open(url, ...)` is the same log in a PostgreSQL schema (the URL's
  `search_path`, else `public`) shared by several processes; import it from there (it loads asyncpg), or open
  either backend by location with `events.open.open_event_store`. Appends from all processes take turns on the
  one-row `event_log_head`; subscribers are woken across processes by LISTEN/NOTIFY.
"""

from events.chain import VerifyReport
from events.errors import ConcurrencyConflict, EventIdReused, NotAnEventStore, StoreClosed, UnknownEventType
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.registry import EventRegistry
from events.sqlite_store import Durability, SQLiteEventStore
from events.store import EventStore
from events.views import (
    CatchUpRunner,
    CatchUpView,
    FollowerFailure,
    FollowerHealth,
    InlineView,
    ViewComparison,
    ViewRebuild,
    ViewRow,
    table_rows,
)

__all__ = [
    "AppendResult",
    "CatchUpRunner",
    "CatchUpView",
    "ConcurrencyConflict",
    "Durability",
    "Event",
    "EventIdReused",
    "EventRegistry",
    "EventStore",
    "FollowerFailure",
    "FollowerHealth",
    "InlineView",
    "Metadata",
    "NotAnEventStore",
    "SQLiteEventStore",
    "StoreClosed",
    "StoredEvent",
    "UnknownEventType",
    "VerifyReport",
    "ViewComparison",
    "ViewRebuild",
    "ViewRow",
    "table_rows",
]
