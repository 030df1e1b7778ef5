"""The web app's client of the live feed says when the feed is connected (the badge turns back to "live" then),
and pages of the log are read back from a position, newest last."""

from __future__ import annotations

import pytest

from frontend.api import Client
from tests.api.conftest import served, settings
from tests.frontend.test_auth import api

__all__ = ["api", "served", "settings"]

pytestmark = pytest.mark.anyio


async def test_the_feed_says_when_it_is_connected_before_any_event(api: str) -> None:
    head = await Client("").log_head()
    opened: list[bool] = []

    async def on_open() -> None:
        opened.append(True)

    feed = Client("").follow_events(head - 1, on_open)
    event = await anext(feed)
    await feed.aclose()
    assert opened == [True] and event.position == head


async def test_events_up_to_a_position_oldest_first(api: str) -> None:
    client = Client("")
    head = await client.log_head()
    assert [e.position for e in await client.events_up_to(head, 50)] == list(range(max(1, head - 49), head + 1))
    assert await client.events_up_to(0, 50) == []
