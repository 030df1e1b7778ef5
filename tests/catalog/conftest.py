"""Catalog test set-up: an app whose lifespan opens a real store on a tmp SQLite file and the catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from backend.auth import Tokens, TokenView, authorize
from backend.catalog import EVENT_TYPES, CatalogController, CatalogService
from backend.catalog.seed import SEED_DIR
from backend.context import request_metadata
from backend.errors import EXCEPTION_HANDLERS
from backend.query_guard import refuse_unknown_query_params
from backend.settings import Settings
from events import EventRegistry, SQLiteEventStore
from tests.conftest import LOCAL_BASE_URL

Client = AsyncTestClient[Litestar]


def catalog_of(state: State) -> CatalogService:
    catalog: CatalogService = state.catalog
    return catalog


def catalog_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(*EVENT_TYPES)
    return registry


def catalog_app(settings: Settings, seed_dir: Path = SEED_DIR, refresh_timeout: float = 2.0) -> Litestar:
    """The catalog routes as the service mounts them, with the same errors, auth guard and query guard."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        registry = catalog_registry()
        token_view = TokenView(registry)
        async with (
            SQLiteEventStore.open(settings.database_path, registry=registry, inline_views=[token_view]) as store,
            httpx.AsyncClient(follow_redirects=False) as http,
        ):
            catalog = await CatalogService.open(
                store, settings, http, seed_dir=seed_dir, refresh_timeout=refresh_timeout
            )
            app.state.catalog = catalog
            app.state.store = store
            app.state.tokens = Tokens.open(store, token_view, settings)
            try:
                yield
            finally:
                await catalog.close()

    return Litestar(
        route_handlers=[CatalogController],
        dependencies={
            "catalog": Provide(catalog_of, sync_to_thread=False),
            "metadata": Provide(request_metadata, sync_to_thread=False),
        },
        guards=[authorize],
        lifespan=[lifespan],
        before_request=refuse_unknown_query_params,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as test_client:
        yield test_client
