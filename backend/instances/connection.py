"""Connection tests: build a provider Connection from an instance and record what listing models found."""

from __future__ import annotations

import os

from backend.catalog.schema import Provider
from backend.errors import Conflict
from backend.instances.events import ConnectionTested
from backend.instances.service import Instances
from backend.instances.view import InstanceView
from backend.providers import Connection, ListResult, list_models
from backend.providers.failures import scrub, secrets_of
from backend.secret import Secret
from events import Metadata


def catalog_endpoint(provider: Provider) -> str:
    """The provider's default endpoint; a `$VAR` placeholder reads the environment (empty when unset)."""
    endpoint = provider.api_endpoint.strip()
    if endpoint.startswith("$"):
        return os.environ.get(endpoint[1:], "").strip()
    return endpoint


def connection_for(instance: InstanceView, provider: Provider, secret: Secret | None) -> Connection:
    """The instance's endpoint (or the catalog's), timeout, retry policy and headers over the catalog's."""
    return Connection(
        provider_type=provider.type,
        base_url=instance.endpoint or catalog_endpoint(provider),
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


async def try_key(instances: Instances, instance: InstanceView, secret: Secret | None) -> ListResult:
    """List the endpoint's models with `secret`; the message never carries the key."""
    conn = connection_for(instance, provider_of(instances, instance), secret)
    result = await list_models(instances.http, conn)
    if secret is None:
        return result
    message = scrub(result.message, secrets_of(secret, {}))
    return ListResult(result.outcome, result.http_status, result.latency_ms, result.model_ids, message)


async def run_connection_test(instances: Instances, instance_id: str, metadata: Metadata) -> InstanceView:
    """Test the instance with its recorded key and record `ConnectionTested`; refused when that key is missing."""
    instance = (await instances.row(instance_id)).instance
    secret = instances.stored_key(instance)
    result = await try_key(instances, instance, secret)
    event = ConnectionTested(
        instance_id=instance_id,
        outcome=result.outcome,
        http_status=result.http_status,
        latency_ms=round(result.latency_ms, 2),
        model_count=len(result.model_ids),
        model_ids=sorted(set(result.model_ids)),
        message=result.message,
        credential_version=instance.credential.version if instance.credential else None,
    )
    await instances.append(instance_id, [event], metadata)
    return (await instances.row(instance_id)).instance
