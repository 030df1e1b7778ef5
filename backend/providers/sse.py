"""Server-sent events read from a stream of text lines (the WHATWG event-stream format)."""

from collections.abc import AsyncIterator

import msgspec


class SseEvent(msgspec.Struct, frozen=True):
    event: str
    data: str


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    """Group lines into events; comments are skipped and a last event without its blank line still counts."""
    name, data = "", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(name or "message", "\n".join(data))
            name, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield SseEvent(name or "message", "\n".join(data))
