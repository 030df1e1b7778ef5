"""The catalog part of the API as the web app reads and writes it."""

from __future__ import annotations

import msgspec

from frontend.api import Client, Query


class ProviderCard(msgspec.Struct, frozen=True):
    id: str
    name: str
    type: str
    model_count: int
    unknown_price_count: int
    price_in_min: float | None
    price_in_max: float | None
    price_out_min: float | None
    price_out_max: float | None
    max_context_window: int
    custom: bool
    overridden: bool


class ProviderList(msgspec.Struct, frozen=True):
    providers: list[ProviderCard]
    model_count: int
    warnings: list[str]


class ModelInfo(msgspec.Struct, frozen=True):
    id: str
    name: str
    cost_per_1m_in: float
    cost_per_1m_out: float
    context_window: int
    default_max_tokens: int
    cost_per_1m_cache_write: float = 0.0
    cost_per_1m_cache_read: float = 0.0
    price_status: str = "known"
    can_reason: bool = False
    reasoning_levels: list[str] = []
    default_reasoning_effort: str | None = None
    supports_attachments: bool = False


class ModelHit(msgspec.Struct, frozen=True):
    provider_id: str
    provider_name: str
    model: ModelInfo


class ModelPage(msgspec.Struct, frozen=True):
    total: int
    items: list[ModelHit]


class ProviderDraft(msgspec.Struct, frozen=True, kw_only=True):
    """What the editor sends: a provider definition without id or provenance."""

    name: str
    type: str
    api_endpoint: str = ""
    api_key: str | None = None
    default_large_model_id: str
    default_small_model_id: str
    default_headers: dict[str, str] = {}
    models: list[ModelInfo]


class Provider(ProviderDraft, frozen=True, kw_only=True):
    id: str
    source: str = ""
    as_of: str = ""
    custom: bool = False
    overridden: bool = False
    shipped: bool = False
    version: int = 0


class ProviderDetail(Provider, frozen=True, kw_only=True):
    resolved_endpoint: str = ""


class Template(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    suggested_id: str
    provider: ProviderDraft


class _Templates(msgspec.Struct, frozen=True):
    templates: list[Template]


class _Saved(msgspec.Struct, frozen=True):
    provider: Provider


class _Imported(msgspec.Struct, frozen=True):
    providers: list[_Saved]


PREFIX = "/api/v1/catalog"


async def providers(client: Client) -> ProviderList:
    return msgspec.json.decode(await client.get_json(f"{PREFIX}/providers"), type=ProviderList)


async def provider(client: Client, provider_id: str) -> ProviderDetail:
    return msgspec.json.decode(await client.get_json(f"{PREFIX}/providers/{provider_id}"), type=ProviderDetail)


async def search(client: Client, query: Query) -> ModelPage:
    return msgspec.json.decode(await client.get_json(f"{PREFIX}/models", query), type=ModelPage)


async def templates(client: Client) -> list[Template]:
    return msgspec.json.decode(await client.get_json(f"{PREFIX}/templates"), type=_Templates).templates


class _OverridingDraft(ProviderDraft, frozen=True, kw_only=True):
    override: bool = True


async def save_custom(
    client: Client, provider_id: str, draft: ProviderDraft, version: int, override: bool = False
) -> Provider:
    """Save a custom provider; `override` confirms replacing a shipped provider of the same id (else 409)."""
    headers = {"if-match": str(version)} if version else None
    body = _OverridingDraft(**msgspec.structs.asdict(draft)) if override else draft
    raw = await client.send("PUT", f"{PREFIX}/custom/{provider_id}", body=body, headers=headers)
    return msgspec.json.decode(raw, type=Provider)


async def delete_custom(client: Client, provider_id: str) -> None:
    await client.send("DELETE", f"{PREFIX}/custom/{provider_id}")


async def import_catwalk(client: Client, payload: str, as_id: str, override: bool = False) -> list[str]:
    """Import Catwalk JSON; `override` confirms replacing shipped providers of the same ids (else 409)."""
    params: Query = {"as_id": as_id} if as_id else {}
    if override:
        params["override"] = "true"
    raw = await client.send("POST", f"{PREFIX}/import", params=params, body=payload.encode())
    return [saved.provider.id for saved in msgspec.json.decode(raw, type=_Imported).providers]


def export_url(provider_id: str) -> str:
    return f"{PREFIX}/export/{provider_id}"
