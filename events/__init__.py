"""Switchboard's event-sourcing core: event types, the SQLite event store, subscriptions and read views.

Beyond the agreed API the store also offers `subscribe_batches`, `write_transaction`,
`checkpoint`, `durability`, `run_catch_up` and the `transactions` counter, all described by
the `EventStore` protocol (`durability` is SQLite-only); `VerifyReport`
carries `head_hash` too, and `open` takes `poll_interval`.
"""

from events.chain import VerifyReport
from events.errors import ConcurrencyConflict, EventIdReused, NotAnEventStore, StoreClosed, UnknownEventType
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.registry import EventRegistry
from events.sqlite_store import Durability, SQLiteEventStore
from events.store import EventStore
from events.views import CatchUpRunner, CatchUpView, InlineView

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
    "InlineView",
    "Metadata",
    "NotAnEventStore",
    "SQLiteEventStore",
    "StoreClosed",
    "StoredEvent",
    "UnknownEventType",
    "VerifyReport",
]
