"""HTTP routes for instances and the environment import: parse, call one domain function, shape the answer."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from backend.audit.names import Names
from backend.audit.schemas import MAX_POSITION, EventOut, event_out
from backend.context import idempotency_key, parse_if_match
from backend.instances.as_of import ConnectionTests, InstanceDiff, connection_tests, instance_as_of, instance_diff
from backend.instances.commands import create_instance, update_instance
from backend.instances.confirmation import confirm_endpoint, present
from backend.instances.connection import run_connection_test
from backend.instances.credentials import remove_credential, set_credential
from backend.instances.discovery import add_listed_model, instance_models
from backend.instances.env_import import apply_env, preview_env
from backend.instances.history import HISTORY_PAGE, HISTORY_PAGE_MAX, history_page, whole_history
from backend.instances.schemas import (
    AddModel,
    ConfirmEndpoint,
    CreateInstance,
    EnvImportResult,
    EnvPreview,
    InstanceModels,
    SetCredential,
    UpdateInstance,
)
from backend.instances.service import Instances
from backend.instances.view import InstanceView
from backend.log_point import NOW, POINT_HELP, LogPoint, parse_point, parse_time
from backend.sessions.instance_use import delete_used_instance
from backend.sessions.service import Sessions
from events import Metadata

IfMatch = Annotated[
    str | None,
    HeaderParameter(name="if-match", description="The instance version the change is based on; 409 when it moved on"),
]
InstanceId = FromPath[Annotated[str, PathParameter(max_length=64)]]
InstancesDep = NamedDependency[Instances]
RequestMetadata = NamedDependency[Metadata]
Point = Annotated[str | None, QueryParameter(max_length=64, description=POINT_HELP)]


class InstancesController(Controller):
    path = "/api/v1/instances"
    tags = ["instances"]

    @get(
        "/",
        summary="All instances, ordered by name",
        responses={HTTP_200_OK: ResponseSpec(data_container=list[InstanceView], description="The instances")},
    )
    async def list_instances(self, instances: InstancesDep) -> Response[bytes]:
        body = await instances.list_bytes(lambda instance: present(instances, instance))
        return Response(body, media_type="application/json")

    @post("/", summary="Create an instance (Idempotency-Key honoured)")
    async def create(
        self, instances: InstancesDep, data: JSONBody[CreateInstance], metadata: RequestMetadata, request: Request
    ) -> InstanceView:
        return present(instances, await create_instance(instances, data, metadata, idempotency_key(request)))

    @get(
        "/{instance_id:str}",
        summary="One instance; with ?as_of= as it was at that log position or time (also a deleted one)",
        description="As of a point, the settings, key summary, status and last test are rebuilt from the instance's "
        "events; endpoint_status, current_origin, default_endpoint and key_required speak of the catalog now.",
    )
    async def detail(self, instances: InstancesDep, instance_id: InstanceId, as_of: Point = None) -> InstanceView:
        if as_of is None:
            return present(instances, (await instances.row(instance_id)).instance)
        return present(instances, await instance_as_of(instances, instance_id, parse_point("as_of", as_of)))

    @patch("/{instance_id:str}", summary="Change settings (If-Match: <version>)")
    async def update(
        self, instances: InstancesDep, instance_id: InstanceId, data: JSONBody[UpdateInstance], metadata: RequestMetadata, if_match: IfMatch = None
    ) -> InstanceView:
        return present(instances, await update_instance(instances, instance_id, data, metadata, parse_if_match(if_match)))

    @delete(
        "/{instance_id:str}",
        summary="Delete an instance and destroy its key (If-Match: <version>); 409 while sessions use it unless ?force=true",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def remove(
        self, sessions: NamedDependency[Sessions], instance_id: InstanceId, metadata: RequestMetadata,
        if_match: IfMatch = None, force: Annotated[bool, QueryParameter()] = False,
    ) -> None:
        await delete_used_instance(sessions, instance_id, metadata, parse_if_match(if_match), force)

    @put("/{instance_id:str}/credential", summary="Set or rotate the key, optionally verified first")
    async def put_credential(
        self, instances: InstancesDep, instance_id: InstanceId, data: JSONBody[SetCredential], metadata: RequestMetadata
    ) -> InstanceView:
        return present(instances, await set_credential(instances, instance_id, data, metadata))

    @delete("/{instance_id:str}/credential", summary="Remove the key", status_code=HTTP_200_OK)
    async def delete_credential(self, instances: InstancesDep, instance_id: InstanceId, metadata: RequestMetadata) -> InstanceView:
        return present(instances, await remove_credential(instances, instance_id, metadata))

    @post("/{instance_id:str}/test", summary="Test the connection by listing models (never a completion)", status_code=HTTP_200_OK)
    async def test(self, instances: InstancesDep, instance_id: InstanceId, metadata: RequestMetadata) -> InstanceView:
        return present(instances, await run_connection_test(instances, instance_id, metadata))

    @post(
        "/{instance_id:str}/confirm-endpoint",
        summary="Confirm the key may go to the endpoint's current origin (If-Match: <version>)",
        status_code=HTTP_200_OK,
    )
    async def confirm(
        self,
        instances: InstancesDep,
        instance_id: InstanceId,
        metadata: RequestMetadata,
        data: JSONBody[ConfirmEndpoint | None] = None,
        if_match: IfMatch = None,
    ) -> InstanceView:
        command = data or ConfirmEndpoint()
        return await confirm_endpoint(instances, instance_id, command, metadata, parse_if_match(if_match))

    @get("/{instance_id:str}/models", summary="Catalog models joined with what the endpoint listed")
    async def models(self, instances: InstancesDep, instance_id: InstanceId) -> InstanceModels:
        return await instance_models(instances, instance_id)

    @post("/{instance_id:str}/models", summary="Add a model the endpoint listed to the instance's custom provider")
    async def add_model(
        self, instances: InstancesDep, instance_id: InstanceId, data: JSONBody[AddModel], metadata: RequestMetadata
    ) -> InstanceModels:
        return await add_listed_model(instances, instance_id, data, metadata)

    @get(
        "/{instance_id:str}/history",
        summary="The instance's events (also after deletion): all oldest first, or with limit or before a page "
        "newest first, the next page in the Link header (rel=next)",
    )
    async def history(
        self,
        request: Request,
        instances: InstancesDep,
        names: NamedDependency[Names],
        instance_id: InstanceId,
        limit: Annotated[int | None, QueryParameter(ge=1, le=HISTORY_PAGE_MAX, description="events per page")] = None,
        before: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_POSITION, description="only positions below (newest first)")
        ] = None,
    ) -> Response[list[EventOut]]:
        headers: dict[str, str] = {}
        if limit is None and before is None:
            events = await whole_history(instances.store, instance_id)
        else:
            page = await history_page(instances.store, instance_id, limit or HISTORY_PAGE, before)
            events = page.events
            if page.older is not None:
                onward = urlencode({"limit": limit or HISTORY_PAGE, "before": page.older})
                headers["Link"] = f'<{request.url.with_replacements(query=onward)}>; rel="next"'
        return Response([event_out(stored, instances.store.registry, names) for stored in events], headers=headers)

    @get("/{instance_id:str}/diff", summary="Field by field what changed between two log points, and by which events")
    async def diff(
        self,
        instances: InstancesDep,
        instance_id: InstanceId,
        start: Annotated[str | None, QueryParameter(name="from", max_length=64, description=POINT_HELP)] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=64, description=POINT_HELP)] = None,
    ) -> InstanceDiff:
        first = parse_point("from", start) if start is not None else LogPoint(position=0)
        last = parse_point("to", end) if end is not None else NOW
        return await instance_diff(instances, instance_id, first, last)

    @get("/{instance_id:str}/tests", summary="The connection tests (outcome, status, latency), oldest first")
    async def tests(
        self,
        instances: InstancesDep,
        instance_id: InstanceId,
        since: Annotated[str | None, QueryParameter(max_length=64, description="An RFC 3339 time")] = None,
    ) -> ConnectionTests:
        start = parse_time("since", since) if since is not None else None
        return await connection_tests(instances, instance_id, start)


class EnvImportController(Controller):
    path = "/api/v1/import/env"
    tags = ["instances"]

    @get("/", summary="Preview the instances the environment's provider keys would create")
    async def preview(self, instances: InstancesDep) -> EnvPreview:
        return await preview_env(instances)

    @post("/", summary="Create those instances (actor env-import); running it twice creates nothing new", status_code=HTTP_200_OK)
    async def apply(self, instances: InstancesDep, metadata: RequestMetadata) -> EnvImportResult:
        return await apply_env(instances, metadata)
