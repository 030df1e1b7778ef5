"""Opening the event store a location names: a PostgreSQL URL, or else the path of an SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from events.registry import EventRegistry
from events.sqlite_store import SQLiteEventStore
from events.store import EventStore
from events.views import InlineView

DATABASE_SCHEMES = ("postgresql", "postgres")
SECRET_PARAMETERS = ("password", "sslpassword")


def is_database_url(location: str | Path) -> bool:
    return isinstance(location, str) and urlsplit(location).scheme in DATABASE_SCHEMES


def shown_location(location: str | Path) -> str:
    """The location as it may be shown: a URL without its password (given before the host or as a parameter)."""
    if not is_database_url(location):
        return str(location)
    parts = urlsplit(str(location))
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    parameters = parse_qsl(parts.query, keep_blank_values=True)
    if any(name in SECRET_PARAMETERS for name, _ in parameters):
        shown = [(name, "***" if name in SECRET_PARAMETERS else value) for name, value in parameters]
        parts = parts._replace(query=urlencode(shown, safe="*"))
    return urlunsplit(parts)


@asynccontextmanager
async def open_event_store(
    location: str | Path, *, registry: EventRegistry, inline_views: Sequence[InlineView] = ()
) -> AsyncIterator[EventStore]:
    """The store at `location`, open for the block; created (or its schema brought up to date) when needed."""
    if is_database_url(location):
        from events.postgres.store import PostgresEventStore  # asyncpg is loaded only for a database

        async with PostgresEventStore.open(str(location), registry=registry, inline_views=inline_views) as store:
            yield store
    else:
        async with SQLiteEventStore.open(Path(location), registry=registry, inline_views=inline_views) as store:
            yield store
