"""The instance, catalog-provider and environment-import routes of the public API, decoded into Structs."""

from __future__ import annotations

import msgspec

from frontend.api import Client

INSTANCES = "/api/v1/instances"
TEST_TIMEOUT_S = 3600  # a connection test lasts as long as the instance's own timeout and retries allow


class CredentialSummary(msgspec.Struct, frozen=True):
    """`origin`: the scheme, host and port the key was confirmed for."""

    last4: str
    origin: str | None = None
    verified: bool = False


class LastTest(msgspec.Struct, frozen=True):
    outcome: str
    latency_ms: float
    model_count: int
    message: str
    tested_at: str


class Instance(msgspec.Struct, frozen=True):
    """The fields of an instance the web app shows or edits.

    `endpoint_status`: ok, changed (the key was confirmed for another origin than `current_origin`)
    or unresolved (the endpoint resolves to no URL). `key_changed_at`: the key was set, rotated or removed
    since the last test. `default_endpoint`: the provider's own endpoint, resolved ("" when unresolved).
    """

    id: str
    name: str
    provider_id: str
    provider_type: str
    endpoint: str
    timeout_ms: int
    version: int
    status: str
    credential: CredentialSummary | None
    last_test: LastTest | None
    model_count: int | None
    key_missing: bool = False  # the log records a key but the vault has no file for it
    endpoint_status: str = "ok"
    current_origin: str | None = None
    key_changed_at: str | None = None
    default_endpoint: str = ""
    key_required: bool = False


class ProviderSummary(msgspec.Struct, frozen=True):
    id: str
    name: str
    type: str
    model_count: int


class _ProviderList(msgspec.Struct, frozen=True):
    providers: list[ProviderSummary]


class ProviderDetail(msgspec.Struct, frozen=True):
    """A catalog provider: `api_key` names where its key comes from (`$OPENAI_API_KEY`), never a key.

    `resolved_endpoint`: `api_endpoint` as requests would use it now ("" when unset).
    """

    id: str
    name: str
    type: str
    api_endpoint: str = ""
    api_key: str | None = None
    resolved_endpoint: str = ""


class InstanceModel(msgspec.Struct, frozen=True):
    id: str
    name: str
    availability: str


class InstanceModels(msgspec.Struct, frozen=True):
    tested: bool
    models: list[InstanceModel]
    provider_id: str = ""


class HistoryData(msgspec.Struct, frozen=True):
    """The part of an event's data the history shows: the outcome of a connection test or a failed verification."""

    outcome: str = ""


class HistoryEvent(msgspec.Struct, frozen=True):
    position: int
    type: str
    actor: str
    recorded_at: str
    summary: str
    data: HistoryData = HistoryData()


class EnvCandidate(msgspec.Struct, frozen=True):
    name: str
    provider_id: str
    variable: str
    last4: str | None
    endpoint: str
    action: str
    sends_to: str | None = None
    default_endpoint: str = ""


class _EnvPreview(msgspec.Struct, frozen=True):
    candidates: list[EnvCandidate]


class EnvImportResult(msgspec.Struct, frozen=True):
    created: list[str]
    existing: list[str]


def _path(instance_id: str, *rest: str) -> str:
    return "/".join((INSTANCES, instance_id, *rest))


def _if_match(version: int) -> dict[str, str]:
    return {"if-match": str(version)}


async def list_instances(client: Client) -> list[Instance]:
    return msgspec.json.decode(await client.send("GET", INSTANCES), type=list[Instance])


async def create_instance(client: Client, fields: dict[str, object]) -> Instance:
    return msgspec.json.decode(await client.send("POST", INSTANCES, body=fields), type=Instance)


async def update_instance(client: Client, instance_id: str, version: int, changes: dict[str, object]) -> Instance:
    raw = await client.send("PATCH", _path(instance_id), body=changes, headers=_if_match(version))
    return msgspec.json.decode(raw, type=Instance)


async def delete_instance(client: Client, instance_id: str, version: int) -> None:
    await client.send("DELETE", _path(instance_id), headers=_if_match(version))


async def run_test(client: Client, instance_id: str) -> Instance:
    raw = await client.send("POST", _path(instance_id, "test"), timeout_s=TEST_TIMEOUT_S)
    return msgspec.json.decode(raw, type=Instance)


async def confirm_endpoint(client: Client, instance_id: str, version: int, origin: str) -> Instance:
    """Confirm the key may go to `origin`, the endpoint's origin as the card showed it."""
    raw = await client.send(
        "POST", _path(instance_id, "confirm-endpoint"), body={"origin": origin}, headers=_if_match(version)
    )
    return msgspec.json.decode(raw, type=Instance)


async def set_credential(client: Client, instance_id: str, api_key: str, verify: bool) -> Instance:
    raw = await client.send(
        "PUT", _path(instance_id, "credential"), body={"api_key": api_key, "verify": verify}, timeout_s=TEST_TIMEOUT_S
    )
    return msgspec.json.decode(raw, type=Instance)


async def instance_models(client: Client, instance_id: str) -> InstanceModels:
    return msgspec.json.decode(await client.send("GET", _path(instance_id, "models")), type=InstanceModels)


async def add_listed_model(client: Client, instance_id: str, model_id: str) -> InstanceModels:
    raw = await client.send("POST", _path(instance_id, "models"), body={"model_id": model_id})
    return msgspec.json.decode(raw, type=InstanceModels)


async def instance_history(client: Client, instance_id: str) -> list[HistoryEvent]:
    return msgspec.json.decode(await client.send("GET", _path(instance_id, "history")), type=list[HistoryEvent])


async def catalog_providers(client: Client) -> list[ProviderSummary]:
    raw = await client.send("GET", "/api/v1/catalog/providers")
    return msgspec.json.decode(raw, type=_ProviderList).providers


async def catalog_provider(client: Client, provider_id: str) -> ProviderDetail:
    raw = await client.send("GET", f"/api/v1/catalog/providers/{provider_id}")
    return msgspec.json.decode(raw, type=ProviderDetail)


async def preview_env_import(client: Client) -> list[EnvCandidate]:
    return msgspec.json.decode(await client.send("GET", "/api/v1/import/env"), type=_EnvPreview).candidates


async def apply_env_import(client: Client) -> EnvImportResult:
    return msgspec.json.decode(await client.send("POST", "/api/v1/import/env"), type=EnvImportResult)
