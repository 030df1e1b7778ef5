"""Events about the service itself, so the log is never silent about restarts."""

from __future__ import annotations

from backend.wording import plural
from events import Event

SERVICE_STREAM = "service"


class ServiceStarted(Event, frozen=True, kw_only=True):
    """The service opened the store and began serving."""

    version: str
    data_dir: str

    def summary(self) -> str:
        return f"Switchboard {self.version} started (data in {self.data_dir})"


class VaultUpgraded(Event, frozen=True, kw_only=True):
    """Credential files of an older format were re-encrypted in the current one at start-up."""

    count: int
    from_format: int
    to_format: int

    def summary(self) -> str:
        formats = f"from format {self.from_format} to {self.to_format}"
        return f"Vault upgraded: {plural(self.count, 'credential file')} re-encrypted {formats}"


class VaultRekeyed(Event, frozen=True, kw_only=True):
    """Every credential file was re-encrypted under a new master key (ids name the keys, never show them)."""

    count: int
    unreadable: int
    key_id: str
    previous_key_id: str

    def summary(self) -> str:
        keys = f"from master key {self.previous_key_id} to {self.key_id}"
        return f"Vault rekeyed: {plural(self.count, 'credential file')} moved {keys}"


class BackupMade(Event, frozen=True, kw_only=True):
    """`switchboard backup` copied the log up to `head_position` and the vault files into `path`."""

    path: str
    head_position: int
    head_hash: str
    vault_files: int
    master_key_included: bool

    def summary(self) -> str:
        key = " and the master key" if self.master_key_included else ""
        files = plural(self.vault_files, "vault file")
        return f"Backup made in {self.path}: {plural(self.head_position, 'event')}, {files}{key}"


class BackupRestored(Event, frozen=True, kw_only=True):
    """`switchboard restore` put a backup into this data folder; the log up to `head_position` is the backup's."""

    path: str
    head_position: int
    head_hash: str
    replaced: bool

    def summary(self) -> str:
        replaced = ", replacing what was there" if self.replaced else ""
        return f"Restored from the backup in {self.path} ({plural(self.head_position, 'event')}){replaced}"


class LogMigrated(Event, frozen=True, kw_only=True):
    """`switchboard migrate` copied the SQLite log at `source` (up to `head_position`) and its vault into this
    PostgreSQL log, and found both chains ending at the same hash."""

    source: str
    head_position: int
    head_hash: str
    vault_files: int

    def summary(self) -> str:
        files = plural(self.vault_files, "vault file")
        return f"Migrated from {self.source}: {plural(self.head_position, 'event')} and {files}"


class ViewRebuilt(Event, frozen=True, kw_only=True):
    """A read view was rebuilt from the log at start-up because its code version changed (from_version 0: the
    view had no recorded version yet)."""

    view: str
    from_version: int
    to_version: int
    events: int
    milliseconds: float

    def summary(self) -> str:
        versions = f"from version {self.from_version} to {self.to_version}"
        return f"View {self.view} rebuilt {versions}: {plural(self.events, 'event')} in {self.milliseconds:.0f} ms"


EVENT_TYPES = (ServiceStarted, VaultUpgraded, VaultRekeyed, BackupMade, BackupRestored, LogMigrated, ViewRebuilt)
