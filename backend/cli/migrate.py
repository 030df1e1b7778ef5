"""`switchboard migrate --to postgresql://...`: the data folder's SQLite log copied into an empty PostgreSQL schema as it
is (ids, positions, times, hash chain), its views built there, and both chains checked to end at the same hash."""

from __future__ import annotations

import msgspec

from backend.audit.events import SERVICE_STREAM, LogMigrated
from backend.auth.commands import cli_actor
from backend.cli.log import verify_log
from backend.cli.output import Refused, print_fields, progress
from backend.instances.vault_lock import VaultBusy, holding_vault
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
    try:
        with holding_vault(settings.vault_lock, exclusive=True):  # no server or rekey changes the folder meanwhile
            source, copied = await _copy(settings, target)
    except VaultBusy as error:
        raise Refused(f"{error}; stop the server first") from None
    moved = msgspec.structs.replace(settings, database_url=Secret(target))
    async with open_services(moved, serving=False) as services:  # builds every view from the copied log
        await services.store.append(SERVICE_STREAM, [LogMigrated(
            source=str(settings.database_path), head_position=source.checked, head_hash=source.head_hash, vault_files=0,
        )], metadata=Metadata(actor=cli_actor()))
    print_fields([("copied", f"{copied} events"), ("to", shown_location(target)), ("head position", str(source.checked)),
                  ("head hash", source.head_hash)])
    return 0


async def _copy(settings: Settings, target: str) -> tuple[VerifyReport, int]:
    """The source's chain checked, copied, and the copy's chain checked to end where the source's does."""
    source = await _intact(await verify_log(settings.database_path), str(settings.database_path))
    async with open_event_store(target, registry=build_registry()) as store:  # creates the schema, no views yet
        if await store.head():
            raise Refused(f"{shown_location(target)} already holds a log; migrate only into an empty schema")
    try:
        with progress("copying") as bar:
            copied = await copy_sqlite_log(settings.database_path, target, lambda done: bar(done, source.checked))
    except TargetNotEmpty as error:
        raise Refused(str(error)) from None
    copy = await _intact(await verify_log(target), shown_location(target))
    if (copy.checked, copy.head_hash) != (source.checked, source.head_hash):
        raise Refused(f"the copy ends at {copy.checked} ({copy.head_hash}), the source at {source.checked} "
                      f"({source.head_hash})")
    return source, copied


async def _intact(report: VerifyReport, location: str) -> VerifyReport:
    if not report.ok:
        raise Refused(f"the log at {location} is broken at position {report.first_bad_position}: {report.reason}")
    return report
