"""The instance, catalog-provider and environment-import routes of the public API, decoded into Structs."""

from __future__ import annotations

import msgspec

from frontend.api import Client, Query

INSTANCES = "/api/v1/instances"
TEST_TIMEOUT_S = 3600  # a connection test lasts as long as the instance's own timeout and retries allow


class CredentialSummary(msgspec.Struct, frozen=True):
    """`origin`: the scheme, host and port the key was confirmed for; `version` counts the keys the instance had."""

    last4: str
    origin: str | None = None
    verified: bool = False
    version: int = 0


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
    max_attempts: int = 1
    backoff_ms: int = 0
    headers: dict[str, str] = {}
    api_version: str = ""


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


class LoggedAt(msgspec.Struct, frozen=True):
    """Which event of the log: where it is, what it was, who caused it and when."""

    position: int
    type: str
    actor: str
    recorded_at: str


class HistoryEvent(LoggedAt, frozen=True):
    """One event of an instance's stream; `version` counts them from 1, the instance's creation."""

    version: int
    summary: str
    data: HistoryData = HistoryData()


Leaf = str | int | float | bool | None


class FieldChange(msgspec.Struct, frozen=True):
    """One field (dotted when nested, e.g. `credential.last4`) at both points; None: it was not there."""

    field: str
    before: Leaf
    after: Leaf
    events: list[LoggedAt]  # the events that changed it


class _Diff(msgspec.Struct, frozen=True):
    changes: list[FieldChange]


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


async def get_instance(client: Client, instance_id: str, as_of: int | None = None) -> Instance:
    """The instance now, or as it was at log position `as_of` (also a deleted one)."""
    params: Query = {} if as_of is None else {"as_of": as_of}
    return msgspec.json.decode(await client.get_json(_path(instance_id), params), type=Instance)


async def history_page(client: Client, instance_id: str, limit: int, before: int | None = None) -> list[HistoryEvent]:
    """Up to `limit` of the instance's events below position `before` (from the newest when None), newest first."""
    params: Query = {"limit": limit} if before is None else {"limit": limit, "before": before}
    raw = await client.get_json(_path(instance_id, "history"), params)
    return msgspec.json.decode(raw, type=list[HistoryEvent])


async def instance_diff(client: Client, instance_id: str, start: int, end: int | None) -> list[FieldChange]:
    """What changed in the instance from log position `start` to `end` (None: now), field by field."""
    params: Query = {"from": start} if end is None else {"from": start, "to": end}
    return msgspec.json.decode(await client.get_json(_path(instance_id, "diff"), params), type=_Diff).changes


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
