"""What view code needs from a database transaction whichever backend runs it, and the SQL that differs between
the backends (SQLite, PostgreSQL).

Views write their SQL with `?` placeholders and the common subset of both databases (`INSERT ... ON CONFLICT (...)
DO UPDATE SET ... excluded.x`, plain types); what differs is named by the transaction's `dialect`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import aiosqlite
import msgspec

Row = tuple[object, ...]


class Dialect(msgspec.Struct, frozen=True, kw_only=True):
    """The SQL that differs between backends.

    `category`: a stream's category, its id up to and including the first '-' ('' with none); SQLite uses the
    category index only for a condition written with this exact expression.
    """

    name: str
    bytes_type: str
    key_text: str  # a text column compared and ordered byte by byte, as SQLite does
    table_options: str
    row_lock: str  # appended to a SELECT to hold its rows until the transaction ends (other writers wait)
    category: str
    text_aggregate: str  # joins a group's text values with ',' (order not promised): format with the expression

    def join_text(self, expression: str) -> str:
        return self.text_aggregate.format(expression)


SQLITE = Dialect(
    name="sqlite",
    bytes_type="BLOB",
    key_text="TEXT",
    table_options=" WITHOUT ROWID",
    row_lock="",  # one writer at a time already
    category="substr(stream_id, 1, instr(stream_id, '-'))",
    text_aggregate="group_concat({}, ',')",
)
POSTGRESQL = Dialect(
    name="postgresql",
    bytes_type="BYTEA",
    key_text='TEXT COLLATE "C"',
    table_options="",
    row_lock=" FOR UPDATE",
    category="substr(stream_id, 1, strpos(stream_id, '-'))",
    text_aggregate="string_agg({}, ',')",
)


class ViewTransaction(Protocol):
    """A write transaction as a view sees it: statements with `?` placeholders, rows as tuples."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...


class SQLiteTransaction:
    """A ViewTransaction on an aiosqlite connection whose transaction the store began."""

    __slots__ = ("conn",)
    dialect = SQLITE

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self.conn.execute(sql, params)

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [tuple(row) for row in await self.conn.execute_fetchall(sql, params)]


def numbered(sql: str) -> str:
    """`?` and `?N` placeholders as PostgreSQL's `$N` (a bare `?` takes the next number); quoted text is kept."""
    out: list[str] = []
    count, index, quote = 0, 0, ""
    while index < len(sql):
        char = sql[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            end = index + 1
            while end < len(sql) and sql[end].isdigit():
                end += 1
            if end > index + 1:
                out.append("$" + sql[index + 1:end])
            else:
                count += 1
                out.append(f"${count}")
            index = end
            continue
        out.append(char)
        index += 1
    return "".join(out)
