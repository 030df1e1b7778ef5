"""Which storage the vault uses: files in the data folder, or tables beside a shared log (`shared_database`);
and moving a data folder's vault into those tables."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from backend.instances.key_blobs import FileBlobs, KeyBlobs
from backend.instances.master_key import RAW_PREFIX, read_key_file
from backend.instances.vault import Vault
from backend.secret import Secret
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


class VaultNotMovable(Exception):
    """The data folder's vault cannot be copied into the database as it is."""


async def copy_vault(source: FileBlobs, master: Secret, target: KeyBlobs) -> Vault | None:
    """Copy a data folder's vault into shared storage as it is: the same sealed blobs and header, so the same
    master opens them and the fingerprints in the log still match. Run again, it rewrites the same bytes; a target
    holding another vault is refused. None when the folder has no vault yet."""
    header = await source.read_header()
    if header is None:
        return None
    vault = await Vault.open(source, master, None, upgrading=False)
    files = await vault.files()
    if any(file.version is None for file in files):
        raise VaultNotMovable("the vault holds credential files of format 1: start the server once to upgrade them")
    if await target.read_header() not in (None, header):
        raise VaultNotMovable(f"{target.header_shown} holds another vault already")
    for file in files:
        body = await source.read(file.name)
        if body is not None:
            await target.write(file.name, body)
    await target.create_header(header)  # last: a vault whose header is there has all its keys
    return vault


def master_of_key_file(key_file: Path) -> Secret:
    """The master key file's key as a setting (`base64:<its 32 bytes>`): what replicas are given instead."""
    return Secret(RAW_PREFIX + base64.b64encode(read_key_file(key_file)).decode())
