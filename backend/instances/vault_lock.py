"""`<data>/vault.lock`: running servers hold it shared, `switchboard vault rekey` exclusively, so they never overlap."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class VaultBusy(Exception):
    """Another process holds the vault in a way that excludes this one."""


@contextmanager
def holding_vault(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the vault lock while the block runs; VaultBusy at once when it cannot be had."""
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = "a running Switchboard server uses" if exclusive else "`switchboard vault rekey` is changing"
            raise VaultBusy(f"{holder} the vault in {path.parent}; try again once it has stopped") from None
        yield
    finally:
        os.close(descriptor)
