"""Setting, rotating (optionally verified against the provider) and removing an instance's key."""

from __future__ import annotations

import anyio

from backend.errors import FieldError, NotFound, ValidationFailed
from backend.instances.connection import provider_of, try_key
from backend.instances.destination import endpoint_origin
from backend.instances.events import (
    CredentialRemoved,
    CredentialRotated,
    CredentialSet,
    CredentialVerificationFailed,
)
from backend.instances.schemas import SetCredential
from backend.instances.service import Instances, damaged
from backend.instances.validation import key_problems
from backend.instances.vault import CredentialUnreadable
from backend.instances.view import CredentialSummary, InstanceView
from backend.secret import Secret
from events import Event, Metadata


class VerificationRefused(ValidationFailed):
    """The provider did not accept the new key; the previous key stays active."""

    title = "Key verification failed"


def credential_event(
    instances: Instances,
    instance_id: str,
    secret: Secret,
    version: int,
    previous: CredentialSummary | None,
    verified: bool,
    origin: str,
) -> CredentialSet | CredentialRotated:
    """`CredentialSet` for a first key, `CredentialRotated` when it replaces one; either names the origin
    the key may be sent to."""
    fingerprint = instances.vault.fingerprint(secret)
    if previous is None:
        return CredentialSet(
            instance_id=instance_id, fingerprint=fingerprint, last4=secret.last4,
            credential_version=version, verified=verified, origin=origin,
        )
    return CredentialRotated(
        instance_id=instance_id, fingerprint=fingerprint, last4=secret.last4, credential_version=version,
        previous_fingerprint=previous.fingerprint, previous_version=previous.version, verified=verified,
        origin=origin,
    )


def key_destination(origin: str | None) -> str:
    """The origin a new key is set for; a key for an endpoint that resolves to nothing is refused."""
    if origin is None:
        raise ValidationFailed(
            "the key was not stored",
            [FieldError("endpoint", "endpoint_unresolved: a key needs an endpoint to be sent to; set one first")],
        )
    return origin


async def store_and_append(
    instances: Instances, instance: InstanceView, secret: Secret, version: int, events: list[Event], metadata: Metadata
) -> None:
    """Write the key under a new version's file name, append `events`, and only then remove older versions:
    a crash in between leaves a file the log never named, which start-up removes. Call it holding the
    instance's lock."""
    await instances.vault.store(instance.id, secret, version)
    try:
        await instances.append(instance.id, events, metadata, expected_version=instance.version)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await instances.vault.destroy_version(instance.id, version)
        raise
    await instances.vault.destroy(instance.id, version, version)
    instances.key_changed(instance.id)


async def set_credential(
    instances: Instances, instance_id: str, command: SetCredential, metadata: Metadata
) -> InstanceView:
    """Store a key (or rotate to it) for where the endpoint is now. The same key for the same origin
    changes nothing (unless its file went missing); the same key again after the endpoint moved confirms
    it for the new origin."""
    errors = key_problems(command.api_key)
    if errors:
        raise ValidationFailed("the key was not stored", errors)
    secret = Secret(command.api_key)
    async with instances.lock(instance_id):
        row = await instances.row(instance_id)
        instance = row.instance
        previous = instance.credential
        origin = key_destination(endpoint_origin(instance.endpoint, provider_of(instances, instance)))
        present = await _active_file_present(instances, instance)
        same = previous is not None and (previous.fingerprint, previous.origin) == (
            instances.vault.fingerprint(secret), origin
        )
        if present and same:
            return instance
        if command.verify:
            await _verify(instances, instance, secret, metadata)
        version = row.credential_serial + 1
        event = credential_event(instances, instance_id, secret, version, previous, command.verify, origin)
        await store_and_append(instances, instance, secret, version, [event], metadata)
    return (await instances.row(instance_id)).instance


async def _verify(instances: Instances, instance: InstanceView, secret: Secret, metadata: Metadata) -> None:
    """Test the new key; on failure record `CredentialVerificationFailed` and refuse."""
    result = await try_key(instances, instance, secret)
    if result.outcome == "ok":
        return
    failed = CredentialVerificationFailed(
        instance_id=instance.id, fingerprint=instances.vault.fingerprint(secret), last4=secret.last4,
        outcome=result.outcome, http_status=result.http_status, message=result.message,
    )
    await instances.append(instance.id, [failed], metadata)
    status = f" (HTTP {result.http_status})" if result.http_status else ""
    message = f"the provider refused it: {result.outcome}{status}; the previous key stays active"
    raise VerificationRefused(result.message, [FieldError("api_key", message)])


async def _active_file_present(instances: Instances, instance: InstanceView) -> bool:
    """Whether the recorded key's file is there; a damaged one is refused (remove it first)."""
    credential = instance.credential
    if credential is None:
        return False
    try:
        return await instances.vault.load(instance.id, credential.version) is not None
    except CredentialUnreadable as error:
        raise damaged(error) from None


async def remove_credential(instances: Instances, instance_id: str, metadata: Metadata) -> InstanceView:
    """Record `CredentialRemoved`, then destroy the key file (even a damaged one)."""
    async with instances.lock(instance_id):
        row = await instances.row(instance_id)
        instance, highest = row.instance, row.credential_serial
        current = instance.credential
        if current is None:
            if not await instances.vault.destroy(instance_id, highest):
                raise NotFound(f"instance {instance_id} has no credential")
            return instance  # a file left behind by an interrupted write: nothing to record
        event = CredentialRemoved(
            instance_id=instance_id, fingerprint=current.fingerprint, credential_version=current.version
        )
        await instances.append(instance_id, [event], metadata, expected_version=instance.version)
        await instances.vault.destroy(instance_id, highest)
        instances.key_changed(instance_id)
    return (await instances.row(instance_id)).instance
