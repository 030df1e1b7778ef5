"""The catalog service called directly, as other domains do: add a model, concurrent and repeated writes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import msgspec
import pytest

from backend.catalog import CatalogService
from backend.catalog.schema import Model
from backend.catalog.templates import TEMPLATES
from backend.errors import Conflict, NotFound, ProblemError, ValidationFailed
from backend.settings import Settings
from events import Metadata, SQLiteEventStore
from tests.catalog.conftest import catalog_registry

pytestmark = pytest.mark.anyio
META = Metadata(actor="instances")
OLLAMA = next(t for t in TEMPLATES if t.id == "ollama").provider


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[tuple[CatalogService, SQLiteEventStore]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with (
        SQLiteEventStore.open(settings.database_path, registry=catalog_registry()) as store,
        httpx.AsyncClient() as http,
    ):
        catalog = await CatalogService.open(store, settings, http)
        async with catalog:
            yield catalog, store


def free_model(model_id: str) -> Model:
    return Model(id=model_id, name=model_id, cost_per_1m_in=0, cost_per_1m_out=0,
                 price_status="free", context_window=40_960, default_max_tokens=4096)


async def test_add_model_to_a_custom_provider_is_one_event(settings: Settings) -> None:
    async with opened(settings) as (catalog, store):
        await catalog.save_custom("ollama", OLLAMA, META)
        view = await catalog.add_model("ollama", free_model("qwen3:8b"), META)
        assert [m.id for m in view.models] == ["llama3.2", "qwen3:8b"] and view.version == 2
        events = await store.read_stream("catalog-ollama")
        assert [e.type for e in events] == ["CustomProviderCreated", "CustomModelAdded"]
        assert events[-1].metadata.actor == "instances"
        with pytest.raises(ValidationFailed) as refused:
            await catalog.add_model("ollama", free_model("qwen3:8b"), META)
        assert refused.value.errors[0].field == "models[2].id"
        assert len(await store.read_stream("catalog-ollama")) == 2
    async with opened(settings) as (catalog, _):
        reopened = catalog.provider("ollama")
        assert reopened is not None and [m.id for m in reopened.models] == ["llama3.2", "qwen3:8b"]


async def test_add_model_to_a_shipped_provider_creates_an_override(settings: Settings) -> None:
    async with opened(settings) as (catalog, _):
        shipped = catalog.provider("openai")
        assert shipped is not None
        unpriced = Model(id="gpt-new", name="GPT New", cost_per_1m_in=0, cost_per_1m_out=0,
                         context_window=128_000, default_max_tokens=16_000)
        view = await catalog.add_model("openai", unpriced, META)
        assert view.overridden and view.custom
        assert [m.id for m in view.models] == [*(m.id for m in shipped.models), "gpt-new"]
        assert view.models[-1].price_status == "unknown"
        assert view.api_key == "$OPENAI_API_KEY"


async def test_same_idempotency_key_twice_at_once_writes_one_event(settings: Settings) -> None:
    async with opened(settings) as (catalog, store):
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(lambda: catalog.save_custom("ollama", OLLAMA, META, idempotency_key="k1"))
        assert len(await store.read_stream("catalog-ollama")) == 1


async def test_two_different_writers_at_once_one_gets_a_conflict(settings: Settings) -> None:
    async with opened(settings) as (catalog, store):
        outcomes: list[str] = []

        async def save(name: str) -> None:
            try:
                await catalog.save_custom("ollama", msgspec.structs.replace(OLLAMA, name=name), META)
                outcomes.append("saved")
            except Conflict:
                outcomes.append("conflict")

        async with anyio.create_task_group() as group:
            group.start_soon(save, "A")
            group.start_soon(save, "B")
        assert sorted(outcomes) == ["conflict", "saved"]
        assert len(await store.read_stream("catalog-ollama")) == 1


async def test_unknown_provider_is_not_found(settings: Settings) -> None:
    async with opened(settings) as (catalog, _):
        assert catalog.provider("nope") is None
        with pytest.raises(NotFound, match="no provider 'nope'"):
            await catalog.add_model("nope", free_model("x"), META)


async def test_state_rebuilt_from_the_log_equals_the_live_state(settings: Settings) -> None:
    chooser = random.Random(7)
    ids = ["ollama", "openai", "groq", "lab", "desk"]
    async with opened(settings) as (catalog, store):
        for step in range(60):
            provider_id = chooser.choice(ids)
            action = chooser.choice(["save", "save", "delete", "add"])
            try:
                if action == "save":
                    renamed = msgspec.structs.replace(OLLAMA, name=f"{provider_id} {step}")
                    await catalog.save_custom(provider_id, renamed, META)
                elif action == "delete":
                    await catalog.delete_custom(provider_id, META)
                else:
                    await catalog.add_model(provider_id, free_model(f"m{step}"), META)
            except ProblemError:
                pass
        live = catalog.index
        async with httpx.AsyncClient() as http, await CatalogService.open(store, settings, http) as rebuilt:
            assert rebuilt.index.providers == live.providers
            assert rebuilt.index.summaries == live.summaries
        assert await store.count() > 20
