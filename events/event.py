"""The records the log is made of: domain events, their metadata, and events as stored."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Protocol

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base class of every domain event; the tag (the class name) is the stored type."""

    schema_version: ClassVar[int] = 1
    withheld: ClassVar[frozenset[str]] = frozenset()  # kept in the log, never shown to its readers


class Metadata(msgspec.Struct, frozen=True, kw_only=True):
    """Who caused an append and within which request."""

    actor: str
    request_id: str = ""
    correlation_id: str = ""


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the log holds it: its place in the log, its JSON body and its hash."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    data: msgspec.Raw
    metadata: Metadata
    recorded_at: datetime
    hash: str


class Recorded(Protocol):
    """An event as read from the log, whatever shape holds it: enough to decode it and to name it."""

    @property
    def position(self) -> int: ...

    @property
    def stream_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def schema_version(self) -> int: ...

    @property
    def data(self) -> msgspec.Raw: ...


class AppendResult(msgspec.Struct, frozen=True):
    """Where an append landed; `duplicate` means its event ids were already stored."""

    first_position: int
    last_position: int
    stream_version: int
    duplicate: bool = False


def type_name(event_class: type[Event]) -> str:
    """The stored type name of an event class (its msgspec tag)."""
    tag = event_class.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{event_class.__name__} must be a tagged Event subclass")
    return tag
