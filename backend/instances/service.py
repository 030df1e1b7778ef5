"""What every instance command needs: the store, the view, the vault, the catalog and the HTTP client."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import httpx
import msgspec

from backend.catalog.service import CatalogService
from backend.catalog.views import CatalogIndex, ProviderView
from backend.errors import Conflict, NotFound
from backend.instances.events import stream_of
from backend.instances.vault import CredentialUnreadable, Reconciliation, Vault
from backend.instances.view import InstanceListView, InstanceRow, InstanceView
from backend.secret import Secret
from events import AppendResult, ConcurrencyConflict, Event, EventStore, Metadata

log = logging.getLogger(__name__)


class CredentialDamaged(Conflict):
    """The instance's key file cannot be read; it must be removed and set again."""

    title = "Credential unreadable"


class KeyMissing(Conflict):
    """The log records a key for the instance but its file is gone from the vault; it must be set again."""

    title = "Key missing"


class Instances:
    """The instances domain's dependencies, and the few steps every command shares."""

    def __init__(
        self,
        store: EventStore,
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
        self.keys_missing: set[str] = set()  # recorded keys without a file, found at start-up or when used
        self._answered: tuple[bytes, CatalogIndex, frozenset[str], bytes] | None = None

    async def row(self, instance_id: str) -> InstanceRow:
        row = await self.view.get(self.store, instance_id)
        if row is None:
            raise NotFound(f"no instance {instance_id!r}")
        return row

    def provider(self, provider_id: str) -> ProviderView | None:
        return self.catalog.provider(provider_id)

    def lock(self, instance_id: str) -> AbstractAsyncContextManager[None]:
        """Serialises changes to one instance (its credential, its settings) across every replica."""
        return self.store.lock(f"instance:{instance_id}")

    def names_lock(self) -> AbstractAsyncContextManager[None]:
        """Held from a name check to its append (create, rename) across every replica, so two instances never
        share a name."""
        return self.store.lock("instance-names")

    async def reconcile_credentials(self) -> Reconciliation:
        """At start-up: keep only each live instance's recorded key blob; log what went and what is missing.

        The view is read before the vault lists its blobs, as `Vault.reconcile` asks."""
        rows = await self.view.all(self.store)
        recorded = {row.instance.id: (_active(row.instance), row.credential_serial) for row in rows}
        done = await self.vault.reconcile(recorded)
        for name, reason in done.removed:
            log.warning("removed the credential file %s: %s", name, reason)
        for instance_id in done.missing:
            log.warning("instance %s has a recorded key but no credential file: set its key again", instance_id)
        self.keys_missing = set(done.missing)
        return done

    async def stored_key(self, instance: InstanceView) -> Secret | None:
        """The key the log names as the instance's active one; refused (409) when its file is damaged or gone."""
        credential = instance.credential
        if credential is None:
            return None
        try:
            secret = await self.vault.load(instance.id, credential.version)
        except CredentialUnreadable as error:
            raise damaged(error) from None
        if secret is None:
            self.keys_missing.add(instance.id)
            raise KeyMissing(
                f"instance {instance.id} has a key (…{credential.last4}, version {credential.version}) in its history "
                f"but its file is missing from the vault, so nothing was sent. Set the key again: "
                f"PUT /api/v1/instances/{instance.id}/credential"
            )
        return secret

    async def list_bytes(self, shown: Callable[[InstanceView], InstanceView]) -> bytes:
        """The instance list as answered, each instance passed through `shown`; built again only when the view,
        the catalog or the set of missing keys changed since the last answer."""
        body = await self.view.list_bytes(self.store)
        index, missing = self.catalog.index, frozenset(self.keys_missing)
        answered = self._answered
        if answered is not None and answered[0] is body and answered[1] is index and answered[2] == missing:
            return answered[3]
        listed = msgspec.json.decode(body, type=list[InstanceView])
        shaped = msgspec.json.encode([shown(instance) for instance in listed])
        self._answered = (body, index, missing, shaped)
        return shaped

    def key_changed(self, instance_id: str) -> None:
        """The instance's key file was written or removed by a command, so it is no longer missing."""
        self.keys_missing.discard(instance_id)

    def shown(self, instance: InstanceView) -> InstanceView:
        """The instance as answered: `key_missing` as start-up's reconciliation and the key's last use found it."""
        missing = instance.id in self.keys_missing and instance.credential is not None
        return msgspec.structs.replace(instance, key_missing=missing) if missing else instance

    async def append(
        self,
        instance_id: str,
        events: Sequence[Event],
        metadata: Metadata,
        *,
        expected_version: int | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> AppendResult:
        """Append to the instance's stream; a version mismatch is a 409."""
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


def damaged(error: CredentialUnreadable) -> CredentialDamaged:
    return CredentialDamaged(
        f"{error}. Remove the credential (DELETE /api/v1/instances/<id>/credential) and set it again."
    )


def _active(instance: InstanceView) -> int | None:
    return instance.credential.version if instance.credential else None
