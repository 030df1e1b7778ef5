"""`switchboard backup PATH` and `restore PATH`: a consistent copy of the data folder while a server runs, and back.

The database is copied with SQLite's online backup API in one step (one read snapshot, so appends meanwhile
neither stall nor restart it); the vault's files and salt beside it; the master key only when asked for.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from backend.audit.events import SERVICE_STREAM, BackupMade, BackupRestored
from backend.auth.commands import cli_actor
from backend.cli.log import verify_log
from backend.cli.output import Refused, print_fields
from backend.instances.vault_lock import VaultBusy, holding_vault
from backend.private_files import fsync_folder
from backend.services import build_registry
from backend.settings import Settings
from events import Event, Metadata
from events.chain import VerifyReport
from events.open import open_event_store

MANIFEST = "backup.json"
DATABASE = "events.sqlite3"
MASTER_KEY = "master.key"
MASTER_KEY_WARNING = (
    "warning: this backup holds the master key: anyone who reads it can decrypt every stored credential; "
    "keep it apart from the other files or as safe as the data folder itself"
)


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a backup folder holds, written last: a folder without it is not a finished backup."""

    head_position: int
    head_hash: str
    made_at: datetime
    vault_files: list[str]
    master_key_included: bool


def vault_files(settings: Settings, include_master_key: bool) -> list[Path]:
    """The vault's files that exist: the credential files, the salt header, the token key, the key file if asked."""
    files = sorted(settings.credentials_dir.glob("*")) if settings.credentials_dir.is_dir() else []
    singles = [settings.vault_header, settings.token_key_file] + ([settings.key_file] if include_master_key else [])
    return [path for path in [*files, *singles] if path.is_file()]


def empty_folder(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


async def backup(settings: Settings, target: Path, include_master_key: bool) -> int:
    if not empty_folder(target):
        raise Refused(f"{target} is not an empty folder; name a new one", code=2)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.chmod(0o700)
    if include_master_key:
        print(MASTER_KEY_WARNING, file=sys.stderr)
        if not settings.key_file.is_file():
            print("warning: the master key comes from SWITCHBOARD_MASTER_KEY and was not written", file=sys.stderr)
    with _holding_vault(settings, exclusive=False):
        copy_database(settings.database_path, target / DATABASE)
        copied = [_copy_private(path, target / path.relative_to(settings.data_dir)) for path in
                  vault_files(settings, include_master_key)]
    report = await _verified(target / DATABASE)
    manifest = Manifest(
        head_position=report.checked, head_hash=report.head_hash, made_at=datetime.now(UTC),
        vault_files=[str(path.relative_to(target)) for path in copied],
        master_key_included=(target / MASTER_KEY).is_file(),
    )
    _write_private(target / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest)))
    await _record(settings.database_path, BackupMade(
        path=str(target.resolve()), head_position=report.checked, head_hash=report.head_hash,
        vault_files=len(copied), master_key_included=manifest.master_key_included,
    ))
    print_fields([("backup", str(target)), ("head position", str(report.checked)), ("head hash", report.head_hash),
                  ("vault files", str(len(copied)))])
    return 0


async def restore(settings: Settings, source: Path, force: bool) -> int:
    manifest = _manifest(source)
    data_dir = settings.data_dir
    replacing = not empty_folder(data_dir)
    if replacing and not force:
        raise Refused(f"{data_dir} is not empty; restore into an empty data folder, or add --force", code=2)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    with _holding_vault(settings, exclusive=True):
        _clear(settings)
        _copy_private(source / DATABASE, settings.database_path)
        for name in manifest.vault_files:
            _copy_private(source / name, data_dir / name)
    report = await _verified(settings.database_path)
    if report.checked != manifest.head_position or report.head_hash != manifest.head_hash:
        raise Refused(f"the restored log ends at position {report.checked} with hash {report.head_hash}, "
                      f"not where the backup's manifest says ({manifest.head_position}, {manifest.head_hash})")
    await _record(settings.database_path, BackupRestored(
        path=str(source.resolve()), head_position=report.checked, head_hash=report.head_hash, replaced=replacing,
    ))
    print(f"ok: {report.checked} events, hash chain intact")
    print_fields([("restored from", str(source)), ("head position", str(report.checked)),
                  ("head hash", report.head_hash), ("vault files", str(len(manifest.vault_files)))])
    return 0


def copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup, in one step: a consistent copy however busy the source is."""
    descriptor = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)
    reader, copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
    try:
        reader.backup(copy, pages=-1)
    finally:
        reader.close()
        copy.close()


def _manifest(source: Path) -> Manifest:
    try:
        return msgspec.json.decode((source / MANIFEST).read_bytes(), type=Manifest)
    except (OSError, msgspec.DecodeError) as error:
        raise Refused(f"{source} is not a finished Switchboard backup ({MANIFEST}: {error})", code=2) from None


def _clear(settings: Settings) -> None:
    """What a restore replaces: the log and the vault's files (the lock stays; it is held)."""
    data_dir = settings.data_dir
    for name in (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", MASTER_KEY):
        (data_dir / name).unlink(missing_ok=True)
    for path in (settings.vault_header, settings.token_key_file):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.credentials_dir, ignore_errors=True)


def _copy_private(source: Path, target: Path) -> Path:
    """Copy one file as 0600, its folder 0700."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(target, source.read_bytes())
    return target


def _write_private(target: Path, content: bytes) -> None:
    descriptor = os.open(target, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    fsync_folder(target.parent)


async def _verified(database: Path) -> VerifyReport:
    report = await verify_log(database)
    if not report.ok:
        raise Refused(f"the copy is broken at position {report.first_bad_position}: {report.reason}")
    return report


async def _record(database: Path, event: Event) -> None:
    async with open_event_store(database, registry=build_registry()) as store:
        await store.append(SERVICE_STREAM, [event], metadata=Metadata(actor=cli_actor()))


@contextmanager
def _holding_vault(settings: Settings, *, exclusive: bool) -> Iterator[None]:
    """Shared for a backup (beside a server, never beside a rekey); exclusive for a restore (nothing else runs)."""
    try:
        with holding_vault(settings.vault_lock, exclusive=exclusive):
            yield
    except VaultBusy as error:
        raise Refused(str(error)) from None
