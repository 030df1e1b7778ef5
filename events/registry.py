"""Maps stored type names to Event classes and upgrades old schema versions on read."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from events.errors import UnknownEventType
from events.event import Event, Recorded, type_name
from events.planning import EncodedEvent

Upcaster = Callable[[dict[str, object]], dict[str, object]]


class EventRegistry:
    """Known event classes by type name, with upcasters from each older schema version."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._names: dict[type[Event], str] = {}
        self._decoders: dict[tuple[str, int], msgspec.json.Decoder[Event]] = {}
        self._encoder = msgspec.json.Encoder()
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, *classes: type[Event]) -> None:
        for event_class in classes:
            name = type_name(event_class)
            known = self._classes.get(name)
            if known is not None and known is not event_class:
                raise ValueError(f"event type {name!r} is already registered to another class")
            self._classes[name] = event_class
            self._names[event_class] = name
            self._decoders[(name, event_class.schema_version)] = msgspec.json.Decoder(event_class)

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: register a function turning a body of `from_version` into `from_version + 1`."""

        def add(function: Upcaster) -> Upcaster:
            key = (type_name, from_version)
            if key in self._upcasters:
                raise ValueError(f"an upcaster for {type_name!r} v{from_version} already exists")
            self._upcasters[key] = function
            return function

        return add

    def class_for(self, name: str) -> type[Event]:
        try:
            return self._classes[name]
        except KeyError:
            raise UnknownEventType(f"event type {name!r} is not registered") from None

    def encode(self, event: Event, event_id: str) -> EncodedEvent:
        """The stored form of a registered event; refuses events the registry could not decode."""
        event_class = type(event)
        name = self._names.get(event_class)
        if name is None:
            raise UnknownEventType(f"event type {type_name(event_class)!r} is not registered")
        return EncodedEvent(event_id, name, event_class.schema_version, self._encoder.encode(event).decode())

    def decode(self, stored: Recorded) -> Event:
        """The event a stored one holds, upcast first if it was stored under an older schema version."""
        decoder = self._decoders.get((stored.type, stored.schema_version))
        if decoder is not None:
            return decoder.decode(stored.data)
        event_class = self.class_for(stored.type)
        if stored.schema_version > event_class.schema_version:
            raise UnknownEventType(
                f"{stored.type} v{stored.schema_version} at position {stored.position} "
                f"is newer than this code (v{event_class.schema_version})"
            )
        body = self._upcast(stored.type, stored.schema_version, event_class.schema_version, stored.data)
        return msgspec.convert(body, event_class)

    def _upcast(self, name: str, version: int, target: int, data: msgspec.Raw) -> dict[str, object]:
        body = msgspec.json.decode(data, type=dict[str, object])
        for step in range(version, target):
            upcaster = self._upcasters.get((name, step))
            if upcaster is None:
                raise UnknownEventType(f"no upcaster for {name} from v{step} to v{step + 1}")
            body = upcaster(body)
        return body
