"""Creating, changing and deleting instances; nothing is written when a rule is broken."""

from __future__ import annotations

import hashlib
import secrets
from typing import TypeVar

import anyio
import msgspec
from msgspec import UNSET, UnsetType

from backend.catalog.schema import Provider
from backend.catalog.views import provider_endpoint
from backend.errors import Conflict, FieldError, ValidationFailed
from backend.instances.credentials import credential_event, key_destination, store_and_append
from backend.instances.destination import endpoint_origin
from backend.instances.events import InstanceCreated, InstanceDeleted, InstanceUpdated, SettingsChange, stream_of
from backend.instances.schemas import CreateInstance, UpdateInstance
from backend.instances.service import Instances
from backend.instances.validation import (
    api_version_problems,
    endpoint_problems,
    header_problems,
    key_problems,
    name_problems,
    policy_problems,
)
from backend.instances.view import InstanceRow, InstanceView
from backend.secret import Secret
from events import Event, Metadata

SETTINGS = tuple(SettingsChange.__struct_fields__)
T = TypeVar("T")


def new_instance_id(metadata: Metadata, idempotency_key: str | None) -> str:
    """Random, or derived from the client's Idempotency-Key so a retried create finds its instance."""
    if idempotency_key is None:
        return secrets.token_hex(8)
    return hashlib.sha256(f"{metadata.actor}\x00{idempotency_key}".encode()).hexdigest()[:16]


def event_ids_for(instance_id: str, count: int, idempotency_key: str | None) -> list[str] | None:
    if idempotency_key is None:
        return None
    return [f"{instance_id}-create-{n}" for n in range(count)]


async def name_taken(instances: Instances, name: str | UnsetType, instance_id: str = "") -> bool:
    """True when another instance already carries `name`."""
    if isinstance(name, UnsetType):
        return False
    holder = await instances.view.holder_of_name(instances.store, name)
    return holder is not None and holder != instance_id


def settings_problems(settings: SettingsChange, provider: Provider | None, taken: bool) -> list[FieldError]:
    """The rules for each field present in `settings`; `taken`: its name belongs to another instance."""
    errors: list[FieldError] = []
    if settings.name is not UNSET:
        errors += name_problems(settings.name, taken)
    if settings.endpoint is not UNSET:
        errors += endpoint_problems(settings.endpoint, provider, provider_endpoint(provider) if provider else "")
    if settings.headers is not UNSET:
        errors += header_problems(settings.headers)
    if settings.api_version is not UNSET:
        errors += api_version_problems(settings.api_version)
    return errors


async def create_instance(
    instances: Instances, command: CreateInstance, metadata: Metadata, idempotency_key: str | None = None
) -> InstanceView:
    """Record `InstanceCreated` (and `CredentialSet` when a key is given: its file is written first and removed
    again when the append fails; a crash in between leaves a file of an instance the log lacks, which start-up removes).

    A create repeated with the same Idempotency-Key answers the instance it made, and writes nothing.
    """
    instance_id = new_instance_id(metadata, idempotency_key)
    async with instances.lock(instance_id), instances.names_lock():
        if idempotency_key is not None and await instances.store.stream_version(stream_of(instance_id)):
            return await _replayed(instances, instance_id)
        provider = instances.provider(command.provider_id)
        _check_create(command, provider, await name_taken(instances, command.name))
        assert provider is not None
        events: list[Event] = [_created(instance_id, command, provider)]
        if command.api_key is not None:
            secret = Secret(command.api_key)
            origin = key_destination(endpoint_origin(command.endpoint, provider))
            await instances.vault.store(instance_id, secret, 1)
            events.append(credential_event(instances, instance_id, secret, 1, None, False, origin))
        try:
            await instances.append(
                instance_id, events, metadata, expected_version=0,
                event_ids=event_ids_for(instance_id, len(events), idempotency_key),
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await instances.vault.destroy(instance_id, 1)
            raise
    return (await instances.row(instance_id)).instance


async def _replayed(instances: Instances, instance_id: str) -> InstanceView:
    row = await instances.view.get(instances.store, instance_id)
    if row is None:
        raise Conflict(f"instance {instance_id} was created with this Idempotency-Key and deleted since")
    return row.instance


def _created(instance_id: str, command: CreateInstance, provider: Provider) -> InstanceCreated:
    return InstanceCreated(
        instance_id=instance_id,
        name=command.name.strip(),
        provider_id=provider.id,
        provider_type=provider.type,
        endpoint=command.endpoint.strip(),
        timeout_ms=command.timeout_ms,
        max_attempts=command.max_attempts,
        backoff_ms=command.backoff_ms,
        headers=command.headers,
        api_version=command.api_version,
    )


def _check_create(command: CreateInstance, provider: Provider | None, taken: bool) -> None:
    settings = SettingsChange(
        name=command.name, endpoint=command.endpoint.strip(), headers=command.headers, api_version=command.api_version
    )
    errors = [] if provider else [FieldError("provider_id", f"no catalog provider {command.provider_id!r}")]
    errors += settings_problems(settings, provider, taken)
    errors += policy_problems(command.timeout_ms, command.max_attempts, command.backoff_ms)
    if command.api_key is not None:
        errors += key_problems(command.api_key)
    if errors:
        raise ValidationFailed("the instance was not created", errors)


def _normalised(command: UpdateInstance) -> SettingsChange:
    endpoint = command.endpoint
    return SettingsChange(
        name=command.name.strip() if isinstance(command.name, str) else UNSET,
        endpoint=UNSET if endpoint is UNSET else (endpoint or "").strip(),
        timeout_ms=command.timeout_ms,
        max_attempts=command.max_attempts,
        backoff_ms=command.backoff_ms,
        headers=command.headers,
        api_version=command.api_version,
    )


def changed_settings(instance: InstanceView, wanted: SettingsChange) -> tuple[SettingsChange, SettingsChange]:
    """(before, after) holding only the fields whose value really changes."""
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for name in SETTINGS:
        value = getattr(wanted, name)
        if value is not UNSET and value != getattr(instance, name):
            before[name] = getattr(instance, name)
            after[name] = value
    return msgspec.convert(before, SettingsChange), msgspec.convert(after, SettingsChange)


def check_version(instance: InstanceView, if_match: int | None) -> None:
    """Refuse with 409 when the client's If-Match version is not the instance's."""
    if if_match is not None and if_match != instance.version:
        raise Conflict(f"instance {instance.id} is at version {instance.version}, not {if_match}")


async def update_instance(
    instances: Instances, instance_id: str, command: UpdateInstance, metadata: Metadata, if_match: int | None
) -> InstanceView:
    """Record `InstanceUpdated` with the changed fields only; no change records nothing.

    A key goes along to a new endpoint origin only when given again (`api_key`, recorded as a rotation)
    or kept explicitly (`keep_credential`, recorded in the event). The names lock spans the name check
    and the append, so racing renames cannot share a name.
    """
    async with instances.lock(instance_id), instances.names_lock():
        row = await instances.row(instance_id)
        instance = row.instance
        check_version(instance, if_match)
        before, after = changed_settings(instance, _normalised(command))
        if after == SettingsChange() and command.api_key is UNSET:
            return instance
        provider = instances.provider(instance.provider_id)
        taken = await name_taken(instances, after.name, instance_id)
        _check_update(instance, after, provider, taken, command)
        origin = endpoint_origin(_or(after.endpoint, instance.endpoint), provider)
        kept = _kept_origin(instance, after, command, origin)
        events: list[Event] = []
        if after != SettingsChange():
            events.append(InstanceUpdated(
                instance_id=instance_id, before=before, after=after,
                keep_credential=kept is not None, credential_origin=kept,
            ))
        if isinstance(command.api_key, UnsetType):
            await instances.append(instance_id, events, metadata, expected_version=instance.version)
        else:
            await _with_key(instances, row, events, Secret(command.api_key), key_destination(origin), metadata)
    return (await instances.row(instance_id)).instance


async def _with_key(
    instances: Instances, row: InstanceRow, events: list[Event], secret: Secret, origin: str, metadata: Metadata
) -> None:
    """Append `events` and the key given with them, set (or rotated to) for `origin`."""
    previous = row.instance.credential
    if previous is not None and (previous.fingerprint, previous.origin) == (instances.vault.fingerprint(secret), origin):
        if events:
            await instances.append(row.instance.id, events, metadata, expected_version=row.instance.version)
        return
    version = row.credential_serial + 1
    events.append(credential_event(instances, row.instance.id, secret, version, previous, False, origin))
    await store_and_append(instances, row.instance, secret, version, events, metadata)


def _kept_origin(
    instance: InstanceView, after: SettingsChange, command: UpdateInstance, origin: str | None
) -> str | None:
    """The origin the stored key is kept for when the endpoint moves it elsewhere; refuses an unconfirmed move."""
    credential = instance.credential
    if credential is None or after.endpoint is UNSET or origin == credential.origin or command.api_key is not UNSET:
        return None
    if command.keep_credential and origin is not None:
        return origin
    where = origin or "no URL (endpoint_unresolved)"
    raise ValidationFailed("the instance was not changed", [FieldError(
        "endpoint",
        f"sends the key …{credential.last4} to {where} instead of {credential.origin}: give the key again "
        '("api_key") or keep it for the new endpoint ("keep_credential": true)'
        if origin is not None else f"resolves to {where}; the key …{credential.last4} would have nowhere to go",
    )])


def _check_update(
    instance: InstanceView, after: SettingsChange, provider: Provider | None, taken: bool, command: UpdateInstance
) -> None:
    """Unchanged fields were valid already, so every problem found is about a changed one."""
    errors = settings_problems(after, provider, taken)
    errors += policy_problems(
        _or(after.timeout_ms, instance.timeout_ms),
        _or(after.max_attempts, instance.max_attempts),
        _or(after.backoff_ms, instance.backoff_ms),
    )
    if not isinstance(command.api_key, UnsetType):
        errors += key_problems(command.api_key)
    if errors:
        raise ValidationFailed("the instance was not changed", errors)


def _or(value: T | UnsetType, current: T) -> T:
    return current if isinstance(value, UnsetType) else value


async def delete_instance(instances: Instances, instance_id: str, metadata: Metadata, if_match: int | None) -> None:
    """Record `InstanceDeleted`, then destroy the instance's credential file."""
    async with instances.lock(instance_id):
        row = await instances.row(instance_id)
        instance = row.instance
        check_version(instance, if_match)
        has_key = await instances.vault.exists(instance_id, row.credential_serial)
        event = InstanceDeleted(instance_id=instance_id, name=instance.name, credential_destroyed=has_key)
        await instances.append(instance_id, [event], metadata, expected_version=instance.version)
        await instances.vault.destroy(instance_id, row.credential_serial)
        instances.key_changed(instance_id)
