"""`switchboard migrate --to postgresql://...`: the data folder's SQLite log copied into an empty PostgreSQL schema as it
is (ids, positions, times, hash chain), its views built there, and both chains checked to end at the same hash; the
vault's sealed keys, header and token key copied into the schema's tables, so the same master opens them."""

from __future__ import annotations

import sys

import msgspec

from backend.audit.events import SERVICE_STREAM, LogMigrated
from backend.auth.commands import cli_actor
from backend.auth.tokens import SEALING_PURPOSE, BadTokenKey, shared_token_key
from backend.cli.log import verify_log
from backend.cli.output import Refused, print_fields, progress
from backend.instances.master_key import VaultKeyError
from backend.instances.table_blobs import TableBlobs
from backend.instances.vault_lock import VaultBusy, holding_vault
from backend.instances.vault_storage import VaultNotMovable, copy_vault, file_blobs, master_of_key_file
from backend.secret import Secret
from backend.services import build_registry, open_services
from backend.settings import Settings
from events import Metadata
from events.chain import VerifyReport
from events.open import is_database_url, open_event_store, shown_location
from events.postgres.copy import TargetNotEmpty, copy_sqlite_log


async def migrate(settings: Settings, target: str) -> int:
    if not is_database_url(target):
        raise Refused("--to must be a PostgreSQL URL (postgresql://user@host:port/database)", code=2)
    if settings.shared_database:
        raise Refused("migrate copies the data folder's SQLite log: unset SWITCHBOARD_DATABASE_URL", code=2)
    if not settings.database_path.exists():
        raise Refused(f"no event log at {settings.database_path} to migrate", code=2)
    master = _master(settings)
    try:
        with holding_vault(settings.vault_lock, exclusive=True):  # no server or rekey changes the folder meanwhile
            source = await _intact(await verify_log(settings.database_path), str(settings.database_path))
            await _refuse_unless_empty(target)  # before anything is written there
            vault_files = await _copy_vault(settings, master, target)
            copied = await _copy(settings, source, target)
    except VaultBusy as error:
        raise Refused(f"{error}; stop the server first") from None
    moved = msgspec.structs.replace(settings, database_url=Secret(target), master_key=master)
    async with open_services(moved, serving=False) as services:  # builds every view from the copied log
        await services.store.append(SERVICE_STREAM, [LogMigrated(
            source=str(settings.database_path), head_position=source.checked, head_hash=source.head_hash,
            vault_files=vault_files,
        )], metadata=Metadata(actor=cli_actor()))
    print_fields([("copied", f"{copied} events"), ("to", shown_location(target)), ("head position", str(source.checked)),
                  ("head hash", source.head_hash), ("vault files", str(vault_files))])
    if settings.master_key is None:
        print(f"start every replica with SWITCHBOARD_MASTER_KEY=base64:<the content of {settings.key_file}>", file=sys.stderr)
    return 0


def _master(settings: Settings) -> Secret:
    """The master every replica will be given: the setting, or the key file's key as a `base64:` setting."""
    if settings.master_key is not None:
        return settings.master_key
    if not settings.key_file.exists():
        raise Refused(f"no master key: set SWITCHBOARD_MASTER_KEY or restore the key file {settings.key_file}", code=2)
    try:
        return master_of_key_file(settings.key_file)
    except VaultKeyError as error:
        raise Refused(str(error), code=2) from None


async def _copy_vault(settings: Settings, master: Secret, target: str) -> int:
    """The vault's key files, header and token key into the target's tables; how many key files went."""
    async with TableBlobs.open(target) as table:
        try:
            vault = await copy_vault(file_blobs(settings), master, table)
            if vault is None:
                return 0
            proposed = settings.token_key_file.read_bytes() if settings.token_key_file.exists() else None
            await shared_token_key(table, vault.derived_key(SEALING_PURPOSE), proposed)
        except (VaultNotMovable, VaultKeyError, BadTokenKey) as error:
            raise Refused(f"the vault was not copied: {error}", code=2) from None
        return len(await vault.files())


async def _refuse_unless_empty(target: str) -> None:
    """Refused when the target holds a log or a vault already; its tables are created (no views yet) otherwise."""
    async with open_event_store(target, registry=build_registry()) as store:
        if await store.head():
            raise Refused(f"{shown_location(target)} already holds a log; migrate only into an empty schema")
    async with TableBlobs.open(target) as table:
        if await table.read_header() is not None:
            raise Refused(f"{shown_location(target)} already holds a vault; migrate only into an empty schema")


async def _copy(settings: Settings, source: VerifyReport, target: str) -> int:
    """The log copied, and the copy's chain checked to end where the source's does; how many events went."""
    try:
        with progress("copying") as bar:
            copied = await copy_sqlite_log(settings.database_path, target, lambda done: bar(done, source.checked))
    except TargetNotEmpty as error:
        raise Refused(str(error)) from None
    copy = await _intact(await verify_log(target), shown_location(target))
    if (copy.checked, copy.head_hash) != (source.checked, source.head_hash):
        raise Refused(f"the copy ends at {copy.checked} ({copy.head_hash}), the source at {source.checked} "
                      f"({source.head_hash})")
    return copied


async def _intact(report: VerifyReport, location: str) -> VerifyReport:
    if not report.ok:
        raise Refused(f"the log at {location} is broken at position {report.first_bad_position}: {report.reason}")
    return report
