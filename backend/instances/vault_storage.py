"""Which storage the vault uses: files in the data folder, or tables beside a shared log (`shared_database`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.instances.key_blobs import FileBlobs, KeyBlobs
from backend.settings import Settings


def file_blobs(settings: Settings) -> FileBlobs:
    """The vault's files in the data folder: credentials, header and lock."""
    return FileBlobs(settings.credentials_dir, settings.vault_header, settings.vault_lock)


@asynccontextmanager
async def open_key_blobs(settings: Settings) -> AsyncIterator[KeyBlobs]:
    """The vault's storage for the block: PostgreSQL tables when the log is shared by replicas, else files."""
    if not settings.shared_database:
        yield file_blobs(settings)
        return
    from backend.instances.table_blobs import TableBlobs  # asyncpg is loaded only for a database

    async with TableBlobs.open(settings.event_log) as blobs:
        yield blobs
