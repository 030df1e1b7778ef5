"""The one place a provider Connection is built for an instance, and connection tests.

A Connection is built only for an endpoint that resolves, and carries a key only to the origin that key
was confirmed for; other code (chat turns) gets its Connection from `resolve_connection`.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from backend.catalog.schema import SDK_ENDPOINT_TYPES, Provider
from backend.errors import Conflict
from backend.instances.destination import (
    changed,
    effective_endpoint,
    origin_of,
    unresolved,
)
from backend.instances.events import ConnectionTested
from backend.instances.service import Instances
from backend.instances.view import InstanceView
from backend.providers import Connection, ListResult, list_models
from backend.providers.failures import scrub, secrets_of
from backend.secret import Secret
from events import Metadata


class Resolved(NamedTuple):
    """A Connection for an instance, the stored key it carries and that key's version (None: no key)."""

    connection: Connection
    secret: Secret | None
    credential_version: int | None


def connection_for(
    instance: InstanceView, provider: Provider, secret: Secret | None, key_origin: str | None
) -> Connection:
    """The instance's endpoint (or the catalog's), timeout, retry policy and headers over the catalog's.

    Refuses (EndpointUnresolved, EndpointChanged) rather than build a request to no endpoint, or one
    carrying `secret` to any origin but `key_origin`. Catalog-only types (bedrock, vertex) send nothing.
    """
    base_url = effective_endpoint(instance.endpoint, provider)
    origin = origin_of(base_url)
    if origin is None and provider.type not in SDK_ENDPOINT_TYPES:
        raise unresolved(instance.id)
    if secret is not None and origin != key_origin:
        raise changed(instance.id, key_origin, origin or "no URL")
    return Connection(
        provider_type=provider.type,
        base_url=base_url,
        api_key=secret,
        timeout_ms=instance.timeout_ms,
        max_attempts=instance.max_attempts,
        backoff_ms=instance.backoff_ms,
        headers={**provider.default_headers, **instance.headers},
        api_version=instance.api_version or None,
    )


def provider_of(instances: Instances, instance: InstanceView) -> Provider:
    provider = instances.provider(instance.provider_id)
    if provider is None:
        raise Conflict(f"provider {instance.provider_id!r} of instance {instance.id} is no longer in the catalog")
    return provider


async def resolved_connection(instances: Instances, instance: InstanceView) -> Resolved:
    """The instance's Connection with its stored key, refused unless the key was confirmed for where it goes."""
    secret = await instances.stored_key(instance)
    provider = provider_of(instances, instance)
    if secret is None or instance.credential is None:
        return Resolved(connection_for(instance, provider, None, None), None, None)
    credential = instance.credential
    return Resolved(connection_for(instance, provider, secret, credential.origin), secret, credential.version)


async def resolve_connection(instances: Instances, instance: InstanceView) -> Connection:
    """What a chat turn (or any request for an instance) must use: raises a problem instead of sending a key
    to an origin it was not confirmed for, or sending anything when the endpoint resolves to nothing."""
    return (await resolved_connection(instances, instance)).connection


async def try_key(instances: Instances, instance: InstanceView, secret: Secret) -> ListResult:
    """List the endpoint's models with a new `secret`, meant for where the endpoint is now; the message
    never carries the key."""
    provider = provider_of(instances, instance)
    destination = origin_of(effective_endpoint(instance.endpoint, provider))
    return await _listed(instances, connection_for(instance, provider, secret, destination), secret)


async def _listed(instances: Instances, conn: Connection, secret: Secret | None) -> ListResult:
    result = await list_models(instances.http, conn)
    if secret is None:
        return result
    return msgspec.structs.replace(result, message=scrub(result.message, secrets_of(secret, {})))


async def run_connection_test(instances: Instances, instance_id: str, metadata: Metadata) -> InstanceView:
    """Test the instance with its recorded key and record `ConnectionTested`; refused when that key is missing."""
    row = await instances.row(instance_id)
    conn, secret, credential_version = await resolved_connection(instances, row.instance)
    result = await _listed(instances, conn, secret)
    listed = sorted(set(result.model_ids))
    event = ConnectionTested(
        instance_id=instance_id,
        outcome=result.outcome,
        http_status=result.http_status,
        latency_ms=round(result.latency_ms, 2),
        model_count=len(result.model_ids),
        model_ids=None if result.outcome == "ok" and listed == row.model_ids else listed,
        message=result.message,
        credential_version=credential_version,
    )
    await instances.append(instance_id, [event], metadata)
    return (await instances.row(instance_id)).instance
