"""Importing connections from the environment: the catalog's own `$VAR` key placeholders, plus OLLAMA_HOST.

Only variables a provider may name are read (see backend/catalog/placeholders.py): never `SWITCHBOARD_*`.
Each candidate says where its key will be sent (`sends_to`). Applying twice creates nothing new: an
instance of the same provider with the same endpoint and the same key (compared by the vault's keyed
fingerprint, never the key itself) counts as present; for OLLAMA_HOST, the same provider and endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from backend.catalog.placeholders import parse_placeholder, shown_url, variable_allowed
from backend.catalog.schema import Provider, as_draft, with_identity
from backend.catalog.templates import TEMPLATES
from backend.catalog.views import provider_endpoint
from backend.instances.commands import create_instance
from backend.instances.destination import effective_endpoint, endpoint_origin
from backend.instances.schemas import CreateInstance, EnvCandidate, EnvImportResult, EnvPreview
from backend.instances.service import Instances
from backend.instances.validation import endpoint_problems, key_problems
from backend.instances.vault import Secret
from backend.instances.view import InstanceView
from events import Metadata

ENV_ACTOR = "env-import"
OLLAMA_HOST = "OLLAMA_HOST"
OLLAMA_PORT = 11434


class Found(NamedTuple):
    """A candidate as shown, with the key it was found with (never sent to a client)."""

    shown: EnvCandidate
    secret: Secret | None


def _ollama_template() -> Provider:
    """The catalog's Ollama template as a provider, used when the catalog has no Ollama provider yet."""
    template = next(template for template in TEMPLATES if template.id == "ollama")
    return with_identity(template.provider, template.suggested_id, source="template", as_of="")


OLLAMA_TEMPLATE = _ollama_template()


def ollama_url(host: str) -> str:
    """OLLAMA_HOST as a URL, read as the Ollama client does: a bare host gets http:// and port 11434."""
    host = host.strip().rstrip("/")
    if "://" in host:
        return host
    has_port = ":" in host.rsplit("]", 1)[-1]
    return f"http://{host}" if has_port else f"http://{host}:{OLLAMA_PORT}"


def _key_variable(provider: Provider) -> str | None:
    """The variable the provider's key placeholder names, if it is one that may be read."""
    placeholder = parse_placeholder(provider.api_key or "")
    if placeholder is None or not variable_allowed(placeholder.variable, "api_key"):
        return None
    return placeholder.variable


def _free_name(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 2
    while name.casefold() in taken:
        name, number = f"{wanted} {number}", number + 1
    taken.add(name.casefold())
    return name


def _candidate(
    instances: Instances, provider: Provider, variable: str, value: str, existing: list[InstanceView], taken: set[str]
) -> Found:
    secret = None if variable == OLLAMA_HOST else Secret(value.strip())
    endpoint = ollama_url(value) if secret is None else ""
    sends_to = endpoint_origin(endpoint, provider)
    invalid = sends_to is None or bool(
        key_problems(secret.reveal()) if secret else endpoint_problems(endpoint, provider, "")
    )
    match = None if invalid else _matching(instances, provider, secret, endpoint, existing)
    name = match.name if match else _free_name(f"{provider.name} (environment)", taken)
    shown = EnvCandidate(
        name=name,
        provider_id=provider.id,
        variable=variable,
        last4=secret.last4 if secret and not invalid else None,
        endpoint=endpoint,
        action="invalid" if invalid else "exists" if match else "create",
        existing_instance_id=match.id if match else None,
        creates_provider=provider is OLLAMA_TEMPLATE,
        sends_to=sends_to,
        default_endpoint=shown_url(provider_endpoint(provider)),
    )
    return Found(shown, secret)


def _same_endpoint(one: str, other: str, provider: Provider) -> bool:
    """Whether two endpoint settings send requests to the same URL (an empty one: the provider's own)."""
    return effective_endpoint(one, provider).rstrip("/") == effective_endpoint(other, provider).rstrip("/")


def _matching(
    instances: Instances, provider: Provider, secret: Secret | None, endpoint: str, existing: list[InstanceView]
) -> InstanceView | None:
    """The instance of this provider with this endpoint and this key (none for OLLAMA_HOST), if any."""
    fingerprint = instances.vault.fingerprint(secret) if secret else None
    for instance in existing:
        if instance.provider_id != provider.id or not _same_endpoint(instance.endpoint, endpoint, provider):
            continue
        stored = instance.credential.fingerprint if instance.credential else None
        if fingerprint is None or stored == fingerprint:
            return instance
    return None


async def find_in_environment(instances: Instances, environ: Mapping[str, str]) -> list[Found]:
    """Every catalog provider whose key variable is set, and the first Ollama provider when OLLAMA_HOST is."""
    existing = [row.instance for row in await instances.view.all(instances.store)]
    taken = {instance.name.casefold() for instance in existing}
    found: list[Found] = []
    providers = list(instances.catalog.index.providers.values())
    for provider in providers:
        variable = _key_variable(provider)
        if variable and environ.get(variable, "").strip():
            found.append(_candidate(instances, provider, variable, environ[variable], existing, taken))
    if environ.get(OLLAMA_HOST, "").strip():
        ollama = next((provider for provider in providers if provider.type == "ollama"), None)
        found.append(_candidate(instances, ollama or OLLAMA_TEMPLATE, OLLAMA_HOST, environ[OLLAMA_HOST], existing, taken))
    return found


async def preview_env(instances: Instances, environ: Mapping[str, str] = os.environ) -> EnvPreview:
    """What applying would do: names and last four characters only."""
    return EnvPreview(candidates=[found.shown for found in await find_in_environment(instances, environ)])


async def apply_env(
    instances: Instances, metadata: Metadata, environ: Mapping[str, str] = os.environ
) -> EnvImportResult:
    """Create an instance (and its credential) for each candidate not yet present, as actor `env-import`.

    The system acts on a request, so each event also names who asked: correlation `requested by <actor>`.
    """
    as_import = Metadata(actor=ENV_ACTOR, request_id=metadata.request_id, correlation_id=f"requested by {metadata.actor}")
    created: list[str] = []
    existing: list[str] = []
    async with instances.lock(f"\x00{ENV_ACTOR}"):
        for shown, secret in await find_in_environment(instances, environ):
            if shown.existing_instance_id is not None:
                existing.append(shown.existing_instance_id)
            if shown.action != "create":
                continue
            if shown.creates_provider:
                await instances.catalog.save_custom(OLLAMA_TEMPLATE.id, as_draft(OLLAMA_TEMPLATE), as_import)
            command = CreateInstance(
                name=shown.name,
                provider_id=shown.provider_id,
                endpoint=shown.endpoint,
                api_key=secret.reveal() if secret else None,
            )
            created.append((await create_instance(instances, command, as_import)).id)
    return EnvImportResult(created=created, existing=existing)
