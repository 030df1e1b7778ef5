"""Errors the event store raises."""

from __future__ import annotations

from pathlib import Path


class ConcurrencyConflict(Exception):
    """A stream was not at the version the append expected; nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class EventIdReused(ValueError):
    """An append reuses some stored event ids but is not a replay of the same append."""


class UnknownEventType(LookupError):
    """An event type the registry does not know, or lacks an upcaster for."""


class NotAnEventStore(Exception):
    """A file (or a database schema) that is not a Switchboard event store; it was left untouched."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path} is not a Switchboard event store: {reason}")
        self.path = path
        self.reason = reason


class StoreClosed(RuntimeError):
    """The store was closed before the operation could run."""


class FollowerStopped(RuntimeError):
    """A catch-up view stopped following the log (an error, or the store closed) before the position waited for."""


class LockWaitTimeout(TimeoutError):
    """A named lock stayed held elsewhere (another process on the database) for longer than a lock is waited for."""

    def __init__(self, name: str, wait_s: float) -> None:
        super().__init__(f"lock {name!r} is still held elsewhere after {wait_s:g} s; try again")
        self.name = name
        self.wait_s = wait_s
