"""At start-up: re-encrypt credential files of format 1 in the current format, recorded as one `VaultUpgraded`."""

from __future__ import annotations

import logging
from pathlib import Path

from backend.audit.events import SERVICE_STREAM, VaultUpgraded
from backend.instances.master_key import MasterKeys, legacy_master_bytes
from backend.instances.vault import FORMAT_VERSION, Vault
from backend.secret import Secret
from backend.wording import plural
from events import EventStore, Metadata

log = logging.getLogger(__name__)
LEGACY_FORMAT = 1


async def upgrade_vault(
    vault: Vault, setting: Secret | None, key_file: Path | None, store: EventStore, metadata: Metadata
) -> int:
    """Upgrade every format 1 file the old master key opens; the count is recorded when any was."""
    if all(file.version is not None for file in await vault.files()):
        return 0
    legacy = MasterKeys(legacy_master_bytes(setting, key_file))
    count, unreadable = await vault.upgrade(legacy)
    for name in unreadable:
        log.warning("left the credential file %s as it is: it does not decrypt with the master key", name)
    if count:
        event = VaultUpgraded(count=count, from_format=LEGACY_FORMAT, to_format=FORMAT_VERSION)
        await store.append(SERVICE_STREAM, [event], metadata=metadata)
        log.info("re-encrypted %s from format %d to %d", plural(count, "credential file"), LEGACY_FORMAT, FORMAT_VERSION)
    return count
