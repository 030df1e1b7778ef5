"""Named locks within one process: what `lock(name)` is for a store whose every writer lives in this process."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class LocalLocks:
    """One anyio lock per name, kept while anyone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, anyio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock = self._locks.get(name)
        if lock is None:
            lock = anyio.Lock()
            self._locks[name] = lock
        async with lock:
            yield
