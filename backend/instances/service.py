"""What every instance command needs: the store, the view, the vault, the catalog and the HTTP client."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence

import anyio
import httpx

from backend.catalog.service import CatalogService
from backend.catalog.views import ProviderView
from backend.errors import Conflict, NotFound
from backend.instances.events import stream_of
from backend.instances.vault import CredentialUnreadable, Vault
from backend.instances.view import InstanceListView, InstanceRow
from events import AppendResult, ConcurrencyConflict, Event, Metadata, SQLiteEventStore

log = logging.getLogger(__name__)


class CredentialDamaged(Conflict):
    """The instance's key file cannot be read; it must be removed and set again."""

    title = "Credential unreadable"


class Instances:
    """The instances domain's dependencies, and the few steps every command shares."""

    def __init__(
        self,
        store: SQLiteEventStore,
        view: InstanceListView,
        vault: Vault,
        catalog: CatalogService,
        http: httpx.AsyncClient,
    ) -> None:
        self.store = store
        self.view = view
        self.vault = vault
        self.catalog = catalog
        self.http = http
        self._locks: weakref.WeakValueDictionary[str, anyio.Lock] = weakref.WeakValueDictionary()
        self.names_lock = anyio.Lock()
        """Held from a name check to its append (create, rename), so two instances never share a name.

        It holds within this process; the CLI writes no instances, and one database is served by one process."""

    async def row(self, instance_id: str) -> InstanceRow:
        row = await self.view.get(self.store, instance_id)
        if row is None:
            raise NotFound(f"no instance {instance_id!r}")
        return row

    def provider(self, provider_id: str) -> ProviderView | None:
        return self.catalog.provider(provider_id)

    def lock(self, instance_id: str) -> anyio.Lock:
        """Serialises changes to one instance's credential file within this process."""
        lock = self._locks.get(instance_id)
        if lock is None:
            lock = anyio.Lock()
            self._locks[instance_id] = lock
        return lock

    async def remove_orphan_credentials(self) -> list[str]:
        """At start-up: destroy key files a crash left behind for instances that do not exist."""
        live = {row.instance.id for row in await self.view.all(self.store)}
        orphans = await anyio.to_thread.run_sync(self.vault.sweep, live)
        for instance_id in orphans:
            log.warning("destroyed the credential file of %s: no such instance in the log", instance_id)
        return orphans

    async def append(
        self,
        instance_id: str,
        events: Sequence[Event],
        metadata: Metadata,
        *,
        expected_version: int | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> AppendResult:
        """Append to the instance's stream; a version mismatch is a 409, and the list cache is renewed."""
        try:
            return await self.store.append(
                stream_of(instance_id),
                events,
                metadata=metadata,
                expected_version=expected_version,
                event_ids=event_ids,
            )
        except ConcurrencyConflict as conflict:
            raise Conflict(
                f"instance {instance_id} is at version {conflict.actual}, not {conflict.expected}; "
                "read it again and retry"
            ) from None
        finally:
            self.view.changed()


def damaged(error: CredentialUnreadable) -> CredentialDamaged:
    return CredentialDamaged(
        f"{error}. Remove the credential (DELETE /api/v1/instances/<id>/credential) and set it again."
    )
