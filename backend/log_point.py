"""A point in the event log that a client names by position or by RFC 3339 time, for questions "as of" it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from backend.audit.schemas import MAX_POSITION
from backend.errors import FieldError, ProblemError
from events import StoredEvent

POINT_HELP = "A log position (a whole number) or an RFC 3339 time with its offset, e.g. 2026-05-01T12:00:00Z"


class BadQueryValue(ProblemError):
    """A query value that is malformed or out of range: a 400 naming the parameter, like any malformed input."""

    title = "Validation failed"


class LogPoint(msgspec.Struct, frozen=True):
    """Everything logged at or before `position`, or at or before `time` (exactly one is set)."""

    position: int | None = None
    time: datetime | None = None

    def includes(self, stored: StoredEvent) -> bool:
        if self.position is not None:
            return stored.position <= self.position
        assert self.time is not None
        return stored.recorded_at <= self.time


NOW = LogPoint(position=MAX_POSITION)


def parse_point(field: str, raw: str) -> LogPoint:
    """`raw` as a log point; a 400 naming `field` when it is neither a position nor a time with an offset."""
    text = raw.strip()
    if text.isdecimal() and text.isascii():
        position = int(text)
        if position > MAX_POSITION:
            raise _bad(field, f"must be at most {MAX_POSITION}")
        return LogPoint(position=position)
    return LogPoint(time=parse_time(field, text))


def parse_time(field: str, raw: str) -> datetime:
    """An RFC 3339 time with its UTC offset; a 400 naming `field` otherwise."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(field, f"{raw[:40]!r} is neither a log position nor an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise _bad(field, "a time needs its offset from UTC (for example Z or +02:00)")
    return moment


def _bad(field: str, message: str) -> BadQueryValue:
    return BadQueryValue(f"bad value for {field}", [FieldError(field, message)])
