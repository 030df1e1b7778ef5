"""How every connection to PostgreSQL is opened: with settings that free the log's head (and any advisory lock) when
the replica holding it freezes mid-transaction or vanishes from the network, instead of stopping every replica's
writes until the server notices on its own."""

from __future__ import annotations

import asyncpg

SERVER_SETTINGS = {
    "idle_in_transaction_session_timeout": "15s",  # a replica paused inside a transaction lets go of the head
    "tcp_keepalives_idle": "10",  # one cut off from the network is found out within about 25 s
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


async def connect(url: str, *, timeout: float = 60) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=timeout, server_settings=SERVER_SETTINGS)


async def create_pool(
    url: str, *, min_size: int, max_size: int, settings: dict[str, str] | None = None
) -> asyncpg.Pool:
    """A pool whose connections have `SERVER_SETTINGS`, and `settings` besides (the lock pool's `lock_timeout`)."""
    server_settings = {**SERVER_SETTINGS, **(settings or {})}
    return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, server_settings=server_settings)
