"""Confirming that an instance's key may go to where its endpoint now points, and showing where that is."""

from __future__ import annotations

import msgspec

from backend.catalog.placeholders import shown_url
from backend.catalog.schema import SDK_ENDPOINT_TYPES, Provider
from backend.catalog.views import provider_endpoint
from backend.errors import Conflict, FieldError
from backend.instances.commands import check_version
from backend.instances.destination import endpoint_origin, endpoint_status, unresolved
from backend.instances.events import EndpointConfirmed
from backend.instances.schemas import ConfirmEndpoint
from backend.instances.service import Instances
from backend.instances.view import InstanceView
from events import Metadata

SYSTEM = Metadata(actor="system")
KEYLESS_TYPES = frozenset({"ollama"})


def key_required(provider: Provider | None) -> bool:
    """Whether the provider's requests need a key: it names one (`$VAR`) and is no local server nor SDK-only."""
    if provider is None or provider.type in KEYLESS_TYPES | SDK_ENDPOINT_TYPES:
        return False
    return bool((provider.api_key or "").strip())


def current_origin(instances: Instances, instance: InstanceView) -> str | None:
    """Where the instance's requests go now (its endpoint, else its provider's), None when unresolved."""
    return endpoint_origin(instance.endpoint, instances.provider(instance.provider_id))


def present(instances: Instances, instance: InstanceView) -> InstanceView:
    """The instance as answered: `endpoint_status`, `current_origin`, `default_endpoint` (as `shown_url`) and
    `key_required` as the catalog and environment are now, and `key_missing` as the vault last showed."""
    instance = instances.shown(instance)
    provider = instances.provider(instance.provider_id)
    origin = current_origin(instances, instance)
    credential = instance.credential
    status = endpoint_status(origin, credential is not None, credential.origin if credential else None)
    if instance.provider_type in SDK_ENDPOINT_TYPES:
        status = "ok"  # catalog-only types send nothing
    shown = shown_url(provider_endpoint(provider)) if provider else ""
    return msgspec.structs.replace(
        instance, endpoint_status=status, current_origin=origin, default_endpoint=shown, key_required=key_required(provider)
    )


async def confirm_endpoint(
    instances: Instances, instance_id: str, command: ConfirmEndpoint, metadata: Metadata, if_match: int | None
) -> InstanceView:
    """Record `EndpointConfirmed` for the current origin; already confirmed there, nothing is written."""
    async with instances.lock(instance_id):
        instance = (await instances.row(instance_id)).instance
        check_version(instance, if_match)
        credential = instance.credential
        if credential is None:
            raise Conflict(f"instance {instance_id} has no key; there is nothing to confirm")
        origin = current_origin(instances, instance)
        if origin is None:
            raise unresolved(instance_id)
        if command.origin is not None and command.origin != origin:
            raise Conflict(
                f"the endpoint of instance {instance_id} is now {origin}, not {command.origin}; nothing was confirmed",
                [FieldError("origin", f"the endpoint's origin is now {origin}")],
            )
        if credential.origin != origin:
            event = EndpointConfirmed(instance_id=instance_id, origin=origin, previous_origin=credential.origin)
            await instances.append(instance_id, [event], metadata, expected_version=instance.version)
    return present(instances, (await instances.row(instance_id)).instance)


async def record_missing_origins(instances: Instances) -> list[str]:
    """At start-up: a key set before origins were kept is confirmed (as `system`) for where its instance
    points now, so a later move of that endpoint is noticed. Returns the instances confirmed."""
    confirmed: list[str] = []
    for row in await instances.view.all(instances.store):
        instance = row.instance
        origin = current_origin(instances, instance)
        if instance.credential is None or instance.credential.origin is not None or origin is None:
            continue
        event = EndpointConfirmed(instance_id=instance.id, origin=origin, previous_origin=None)
        async with instances.lock(instance.id):
            await instances.append(instance.id, [event], SYSTEM, expected_version=instance.version)
        confirmed.append(instance.id)
    return confirmed
