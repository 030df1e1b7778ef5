"""HTTP routes of the catalog under /api/v1/catalog.

Each handler parses, calls one service method and shapes the answer.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.catalog.as_of import provider_as_of
from backend.catalog.catwalk import CatwalkInput, CatwalkProvider
from backend.catalog.schemas import (
    CustomProviderRequest,
    DeleteResult,
    ImportResult,
    LastRefresh,
    ProviderList,
    RefreshRequest,
    TemplateList,
)
from backend.catalog.search import ModelPage, ModelQuery
from backend.catalog.service import CatalogService, RefreshOutcome
from backend.catalog.views import ProviderDetail, ProviderView, SortKey
from backend.context import idempotency_key, parse_if_match
from backend.log_point import POINT_HELP, parse_point
from events import Metadata

MAX_PAGE = 500
Q_HELP = "Words that must all occur in the model id or name"
PROVIDER_HELP = "Only these provider ids (repeat the parameter for several)"
MAX_IN_HELP = "USD per 1M input tokens; models with an unknown price are left out"
MAX_OUT_HELP = "USD per 1M output tokens; models with an unknown price are left out"
AS_ID_HELP = "Save a single provider under this id instead of its own"
OVERRIDE_HELP = "Replace shipped providers of the same ids; without it such an import is refused with 409"
SORT_HELP = "name, price_in, price_out or context; a leading '-' sorts descending; unknown prices last"
Catalog = NamedDependency[CatalogService]
RequestMetadata = NamedDependency[Metadata]
IfMatch = Annotated[
    str | None,
    HeaderParameter(name="if-match", description="The custom provider's `version` you last read"),
]


class CatalogController(Controller):
    path = "/api/v1/catalog"
    tags = ["catalog"]

    @get("/providers", summary="Every provider, as summaries")
    async def list_providers(self, catalog: Catalog) -> ProviderList:
        last = catalog.last_refresh
        return ProviderList(
            providers=catalog.providers(),
            model_count=catalog.index.model_count,
            warnings=catalog.warnings,
            last_refresh=LastRefresh(url=last.url, etag=last.etag, counts=last.counts) if last else None,
        )

    @get(
        "/providers/{provider_id:str}",
        summary="One provider with all its models; with ?as_of= as the catalog showed it at that log position or time",
        description="As of a point, the provider is rebuilt from the shipped seed and the log; resolved_endpoint "
        "speaks of the environment now.",
    )
    async def get_provider(
        self,
        catalog: Catalog,
        provider_id: FromPath[str],
        as_of: Annotated[str | None, QueryParameter(max_length=64, description=POINT_HELP)] = None,
    ) -> ProviderDetail:
        if as_of is None:
            return catalog.provider_detail(provider_id)
        return await provider_as_of(catalog, provider_id, parse_point("as_of", as_of))

    @get("/models", summary="Search models across every provider")
    async def search_models(
        self,
        catalog: Catalog,
        q: Annotated[str, QueryParameter(max_length=200, description=Q_HELP)] = "",
        provider: Annotated[list[str] | None, QueryParameter(description=PROVIDER_HELP)] = None,
        can_reason: FromQuery[bool | None] = None,
        supports_attachments: FromQuery[bool | None] = None,
        min_context: Annotated[int | None, QueryParameter(ge=1)] = None,
        max_price_in: Annotated[float | None, QueryParameter(ge=0, description=MAX_IN_HELP)] = None,
        max_price_out: Annotated[float | None, QueryParameter(ge=0, description=MAX_OUT_HELP)] = None,
        sort: Annotated[SortKey, QueryParameter(description=SORT_HELP)] = "name",
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> ModelPage:
        query = ModelQuery(
            q=q,
            providers=frozenset(provider or ()),
            can_reason=can_reason,
            supports_attachments=supports_attachments,
            min_context=min_context,
            max_price_in=max_price_in,
            max_price_out=max_price_out,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return catalog.search(query)

    @get("/templates", summary="Starting points for custom providers")
    async def list_templates(self, catalog: Catalog) -> TemplateList:
        return TemplateList(templates=list(catalog.templates()))

    @put(
        "/custom/{provider_id:str}",
        summary="Create or replace a custom provider",
        description=(
            "A shipped provider's id is refused with 409 (naming the instances that use it) "
            "unless the body has `\"override\": true`."
        ),
    )
    async def put_custom(
        self,
        request: Request[object, object, State],
        catalog: Catalog,
        metadata: RequestMetadata,
        provider_id: FromPath[str],
        data: JSONBody[CustomProviderRequest],
        if_match: IfMatch = None,
    ) -> Response[ProviderView]:
        outcome = await catalog.save_custom(
            provider_id,
            data.draft(),
            metadata,
            override=data.override,
            expected_version=parse_if_match(if_match),
            idempotency_key=idempotency_key(request),
        )
        status = HTTP_201_CREATED if outcome.status == "created" else HTTP_200_OK
        return Response(outcome.provider, status_code=status)

    @delete(
        "/custom/{provider_id:str}",
        status_code=HTTP_200_OK,
        summary="Remove a custom provider or override",
    )
    async def delete_custom(
        self,
        request: Request[object, object, State],
        catalog: Catalog,
        metadata: RequestMetadata,
        provider_id: FromPath[str],
        if_match: IfMatch = None,
    ) -> DeleteResult:
        showing = await catalog.delete_custom(
            provider_id,
            metadata,
            expected_version=parse_if_match(if_match),
            idempotency_key=idempotency_key(request),
        )
        return DeleteResult(deleted=provider_id, now_showing=showing)

    @post("/import", status_code=HTTP_200_OK, summary="Import Catwalk-format JSON: one provider or a list")
    async def import_providers(
        self,
        request: Request[object, object, State],
        catalog: Catalog,
        metadata: RequestMetadata,
        data: JSONBody[CatwalkInput],
        as_id: Annotated[str | None, QueryParameter(description=AS_ID_HELP)] = None,
        override: Annotated[bool, QueryParameter(description=OVERRIDE_HELP)] = False,
    ) -> ImportResult:
        saved = await catalog.import_catwalk(
            data, metadata, as_id=as_id, override=override, idempotency_key=idempotency_key(request)
        )
        return ImportResult(providers=saved)

    @get(
        "/export/{provider_id:str}",
        summary="A provider as Catwalk-format JSON",
        responses={
            HTTP_200_OK: ResponseSpec(CatwalkProvider, description="The provider as a file")
        },
    )
    async def export_provider(self, catalog: Catalog, provider_id: FromPath[str]) -> Response[bytes]:
        return Response(
            catalog.export(provider_id),
            media_type="application/json",
            headers={"content-disposition": f'attachment; filename="{provider_id}.json"'},
        )

    @post("/refresh", status_code=HTTP_200_OK, summary="Refresh from a Catwalk-compatible catalog service")
    async def refresh(
        self,
        catalog: Catalog,
        metadata: RequestMetadata,
        data: Annotated[RefreshRequest | None, Body(description="Optional {\"url\": ...}")] = None,
    ) -> RefreshOutcome:
        return await catalog.refresh(metadata, url=data.url if data else None)
