"""Every connection the PostgreSQL store opens lets go of the log's head when its replica freezes or vanishes: the
server ends a transaction left idle, and probes a silent peer."""

from __future__ import annotations

import pytest

from events.postgres.connect import SERVER_SETTINGS
from events.postgres.store import PostgresEventStore
from events.sql import Row, ViewTransaction
from tests.events.bank import bank_registry

pytestmark = pytest.mark.anyio


async def test_the_stores_connections_carry_the_timeouts(postgres_url: str) -> None:
    async with PostgresEventStore.open(postgres_url, registry=bank_registry()) as store:
        for name, value in SERVER_SETTINGS.items():
            shown = await store.fetch(f"SHOW {name}")
            assert shown == [(value,)], name

        async def shown_in_a_transaction(tx: ViewTransaction) -> list[Row]:
            return await tx.fetch("SHOW idle_in_transaction_session_timeout")

        assert await store.write_transaction(shown_in_a_transaction) == [("15s",)]
