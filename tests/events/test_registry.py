"""The event registry: type names, refusals, and upcasting chains of old schema versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import msgspec
import pytest

from events import Event, EventRegistry, Metadata, StoredEvent, UnknownEventType
from tests.events.bank import Deposited, Opened, bank_registry


class NameChanged(Event):
    schema_version: ClassVar[int] = 3
    first: str
    last: str
    source: str


def _stored(type: str, schema_version: int, body: dict[str, object]) -> StoredEvent:
    return StoredEvent(
        position=1, stream_id="s", version=1, event_id="e", type=type, schema_version=schema_version,
        data=msgspec.Raw(msgspec.json.encode(body)), metadata=Metadata(actor="a"),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC), hash="h",
    )


def test_decode_round_trips_an_encoded_event() -> None:
    registry = bank_registry()
    encoded = registry.encode(Opened(owner="Ann"), "id-1")
    stored = _stored(encoded.type, encoded.schema_version, msgspec.json.decode(encoded.data))
    assert (encoded.type, encoded.schema_version) == ("Opened", 1)
    assert registry.decode(stored) == Opened(owner="Ann")


def test_upcasters_chain_from_the_stored_version_to_the_current_one() -> None:
    registry = EventRegistry()
    registry.register(NameChanged)

    @registry.upcaster("NameChanged", from_version=1)
    def split(body: dict[str, object]) -> dict[str, object]:
        first, _, last = str(body.pop("name")).partition(" ")
        return {**body, "first": first, "last": last}

    @registry.upcaster("NameChanged", from_version=2)
    def add_source(body: dict[str, object]) -> dict[str, object]:
        return {**body, "source": "before sources were recorded"}

    from_v1 = registry.decode(_stored("NameChanged", 1, {"type": "NameChanged", "name": "Ann Lee"}))
    from_v2 = registry.decode(_stored("NameChanged", 2, {"type": "NameChanged", "first": "Bo", "last": "Ek"}))
    assert from_v1 == NameChanged(first="Ann", last="Lee", source="before sources were recorded")
    assert from_v2 == NameChanged(first="Bo", last="Ek", source="before sources were recorded")


def test_a_missing_upcaster_is_named() -> None:
    registry = EventRegistry()
    registry.register(NameChanged)
    with pytest.raises(UnknownEventType, match="from v1 to v2"):
        registry.decode(_stored("NameChanged", 1, {"name": "Ann Lee"}))


def test_an_event_newer_than_the_code_is_refused() -> None:
    with pytest.raises(UnknownEventType, match="newer"):
        bank_registry().decode(_stored("Opened", 2, {"owner": "Ann"}))


def test_unknown_types_are_refused_both_ways() -> None:
    registry = EventRegistry()
    registry.register(Opened)
    with pytest.raises(UnknownEventType):
        registry.decode(_stored("Deposited", 1, {"amount": 1}))
    with pytest.raises(UnknownEventType):
        registry.encode(Deposited(amount=1), "id-1")


def test_one_name_cannot_belong_to_two_classes() -> None:
    registry = bank_registry()

    def other_opened() -> type[Event]:
        class Opened(Event):
            by: str

        return Opened

    with pytest.raises(ValueError, match="already registered"):
        registry.register(other_opened())
    registry.register(Opened)


def test_one_upcaster_per_step() -> None:
    registry = EventRegistry()
    registry.upcaster("NameChanged", 1)(dict)
    with pytest.raises(ValueError, match="already exists"):
        registry.upcaster("NameChanged", 1)(dict)
