"""A ViewTransaction on an asyncpg connection: views' `?` statements numbered for PostgreSQL, rows as tuples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import asyncpg

from events.sql import POSTGRESQL, Row, numbered


@lru_cache(maxsize=512)
def numbered_once(sql: str) -> str:
    """`numbered`, remembered for the statements run again and again."""
    return numbered(sql)


class PostgresTransaction:
    """Runs statements on a connection inside a transaction the store began."""

    __slots__ = ("conn",)
    dialect = POSTGRESQL

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self.conn.execute(numbered_once(sql), *params)

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        rows = list(rows)
        if rows:
            await self.conn.executemany(numbered_once(sql), rows)

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [tuple(record) for record in await self.conn.fetch(numbered_once(sql), *params)]
