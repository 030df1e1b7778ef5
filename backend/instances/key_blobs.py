"""Where the vault keeps its sealed bytes: named blobs (one per instance and key version) and its header.

`KeyBlobs` is what the vault needs of a storage; `FileBlobs` is a folder of private files, one process's own.
The PostgreSQL table shared by replicas is `TableBlobs` (backend/instances/table_blobs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

import anyio
import msgspec

from backend.instances.vault_lock import holding_vault
from backend.private_files import fsync_folder, write_atomically, write_once


class StoredBlob(msgspec.Struct, frozen=True):
    """A blob's name, and whether it was written long enough ago that no write in flight can be behind it."""

    name: str
    settled: bool


class KeyBlobs(Protocol):
    """Named byte strings, each written whole or not at all, and the vault's header beside them."""

    shared: bool
    """True when other processes write here too (replicas): a blob the log does not name may be a write in flight."""

    def shown(self, name: str) -> str:
        """Where the blob is, for messages: `credential file /data/credentials/x.v1.cred`."""
        ...

    @property
    def header_shown(self) -> str:
        """Where the header is, for messages."""
        ...

    async def read(self, name: str) -> bytes | None:
        """The blob's bytes, None when there is none by that name."""
        ...

    async def write(self, name: str, body: bytes) -> None:
        """Replace the blob (or create it) durably."""
        ...

    async def delete(self, names: Sequence[str]) -> None:
        """Remove these blobs, durably; names that are not there are skipped."""
        ...

    async def present(self, names: Sequence[str]) -> list[str]:
        """Which of these names exist, in the order given."""
        ...

    async def listing(self) -> list[StoredBlob]:
        """Every blob, by name."""
        ...

    async def clear_leftovers(self) -> None:
        """Remove what interrupted writes left (temporary files); only while nothing else writes."""
        ...

    async def read_header(self) -> bytes | None:
        ...

    async def create_header(self, body: bytes) -> bool:
        """Write the first header; False (and nothing written) when one exists."""
        ...

    async def save_header(self, body: bytes) -> None:
        ...

    def holding(self, *, exclusive: bool) -> AbstractAsyncContextManager[None]:
        """The vault's lock for the block: servers hold it shared, a rekey exclusively; VaultBusy when taken."""
        ...


class FileBlobs:
    """Blobs as files `<folder>/<name>` (folder 0700, files 0600, written atomically), the header file, and the
    lock file."""

    shared = False

    def __init__(self, folder: Path, header_path: Path, lock_path: Path) -> None:
        self.folder = folder
        self.header_path = header_path
        self.lock_path = lock_path
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)

    def path_of(self, name: str) -> Path:
        return self.folder / name

    def shown(self, name: str) -> str:
        return f"credential file {self.path_of(name)}"

    @property
    def header_shown(self) -> str:
        return str(self.header_path)

    async def read(self, name: str) -> bytes | None:
        try:
            return self.path_of(name).read_bytes()
        except FileNotFoundError:
            return None

    async def write(self, name: str, body: bytes) -> None:
        await anyio.to_thread.run_sync(write_atomically, self.path_of(name), body)

    async def delete(self, names: Sequence[str]) -> None:
        await anyio.to_thread.run_sync(self._unlink, names)

    def _unlink(self, names: Sequence[str]) -> None:
        for name in names:
            self.path_of(name).unlink(missing_ok=True)
        fsync_folder(self.folder)

    async def present(self, names: Sequence[str]) -> list[str]:
        """Found by name, not by listing the folder: with every instance's files in it, a listing cost about 9 ms
        per 1,000 instances on each delete and key change."""
        return [name for name in names if self.path_of(name).exists()]

    async def listing(self) -> list[StoredBlob]:
        return [StoredBlob(path.name, True) for path in sorted(self.folder.glob("*")) if not path.name.startswith(".")]

    async def clear_leftovers(self) -> None:
        for temporary in self.folder.glob(".*.tmp"):
            temporary.unlink(missing_ok=True)

    async def read_header(self) -> bytes | None:
        try:
            return self.header_path.read_bytes()
        except FileNotFoundError:
            return None

    async def create_header(self, body: bytes) -> bool:
        return write_once(self.header_path, body)

    async def save_header(self, body: bytes) -> None:
        write_atomically(self.header_path, body)

    @asynccontextmanager
    async def holding(self, *, exclusive: bool) -> AsyncIterator[None]:
        with holding_vault(self.lock_path, exclusive=exclusive):
            yield
