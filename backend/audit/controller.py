"""HTTP routes over the event log: health, paged and filtered events, the audit query and its export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from backend.audit.export import MEDIA_TYPES, ExportFormat, chosen_format, export_bytes
from backend.audit.names import Names
from backend.audit.query import AuditFilter, Order, checked_filter, every_match, query_page
from backend.audit.schemas import MAX_POSITION, EventOut, EventPage, Health, HealthProblem, event_out
from backend.errors import FieldError, ValidationFailed
from backend.services import Services

ServicesDep = NamedDependency[Services]

MAX_PAGE = 500


def audit_filter(
    stream: Annotated[str | None, QueryParameter(description="a stream id, or a prefix ending in '-'")] = None,
    type: Annotated[list[str] | None, QueryParameter(description="event types; several allowed")] = None,
    actor: FromQuery[str | None] = None,
    since: Annotated[datetime | None, QueryParameter(description="RFC 3339, inclusive")] = None,
    until: Annotated[datetime | None, QueryParameter(description="RFC 3339, exclusive")] = None,
    instance: Annotated[str | None, QueryParameter(description="its stream and events naming it")] = None,
    session: Annotated[str | None, QueryParameter(description="a session id")] = None,
    q: Annotated[str | None, QueryParameter(description="words that must all appear (prefixes match)")] = None,
    after: Annotated[int | None, QueryParameter(ge=0, le=MAX_POSITION, description="only positions above")] = None,
    before: Annotated[int | None, QueryParameter(ge=0, le=MAX_POSITION, description="only positions below")] = None,
) -> AuditFilter:
    """The audit filter shared by the query and the export, checked (problem+json naming each bad field)."""
    return checked_filter(AuditFilter(
        stream=stream, types=tuple(type or ()), actor=actor, since=since, until=until, instance=instance,
        session=session, q=q, after=after, before=before,
    ))


class AuditEventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of an audit query: `next` goes on in the same order; `prev` (after a cursor) goes back toward it."""

    events: list[EventOut]
    next: str | None
    prev: str | None
    head: int


def _link(request: Request, **cursor: int) -> str:
    """This request's address with the cursor replaced, every other filter kept."""
    kept = [(name, value) for name, value in request.query_params.multi_items() if name not in ("after", "before")]
    return str(request.url.with_replacements(query=urlencode([*kept, *cursor.items()])))


def _cursors(events: list[EventOut]) -> dict[str, int]:
    """The cursors that lead past a page: `before` its lowest position, `after` its highest (none when empty)."""
    if not events:
        return {}
    positions = [event.position for event in events]
    return {"before": min(positions), "after": max(positions)}


def _has_cursor(wanted: AuditFilter) -> bool:
    return wanted.after is not None or wanted.before is not None


@dataclass
class ExportOperation(Operation):
    """The export's documented 200 answer: a text stream in each export format, not one JSON media type."""

    def __post_init__(self) -> None:
        answer = (self.responses or {}).get("200")
        if isinstance(answer, OpenAPIResponse):
            answer.content = {media: OpenAPIMediaType(schema=Schema(type="string")) for media in MEDIA_TYPES.values()}


class AuditController(Controller):
    path = "/api/v1"
    tags = ["audit"]

    @get("/health", summary="Service health and log position")
    async def health(self, services: ServicesDep) -> Health:
        store = services.store
        problems = [HealthProblem(name=failure.name, error=failure.error) for failure in store.followers.failures()]
        return Health(
            status="degraded" if problems else "ok",
            version=services.version,
            last_position=await store.head(),
            event_count=await store.count(),
            problems=problems,
        )

    @get("/events", summary="Events in position order, filtered")
    async def list_events(
        self,
        services: ServicesDep,
        names: NamedDependency[Names],
        after: Annotated[int, QueryParameter(ge=0, le=MAX_POSITION)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
        stream: FromQuery[str | None] = None,
        type: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> EventPage:
        if since and until and since > until:
            raise ValidationFailed(
                "since is after until", [FieldError("until", "must not be before since")]
            )
        store = services.store
        rows = await store.read(
            after=after, limit=limit, stream=stream, type=type, actor=actor, since=since, until=until
        )
        events = [event_out(row, services.registry, names) for row in rows]
        next_after = events[-1].position if events else after
        return EventPage(events=events, next_after=next_after, head=await store.head())

    @get(
        "/audit/events", summary="Events matching audit filters, a page from a cursor, newest or oldest first",
        dependencies={"wanted": Provide(audit_filter, sync_to_thread=False)},
    )
    async def audit_events(
        self,
        request: Request,
        services: ServicesDep,
        names: NamedDependency[Names],
        wanted: NamedDependency[AuditFilter],
        order: FromQuery[Order] = "newest",
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> AuditEventPage:
        page = await query_page(services.store, services.search, wanted, order, limit)
        events = [event_out(row, services.registry, names) for row in page.events]
        onward, back = ("before", "after") if order == "newest" else ("after", "before")
        ends = _cursors(events)
        return AuditEventPage(
            events=events,
            next=_link(request, **{onward: ends[onward]}) if page.more and ends else None,
            prev=_link(request, **{back: ends[back]}) if ends and _has_cursor(wanted) else None,
            head=await services.store.head(),
        )

    @get(
        "/audit/export", summary="Every event matching audit filters, streamed as NDJSON or CSV",
        dependencies={"wanted": Provide(audit_filter, sync_to_thread=False)},
        responses={200: ResponseSpec(str, description="One event a line (NDJSON) or a row (CSV with a header)")},
        operation_class=ExportOperation,
    )
    async def audit_export(
        self,
        request: Request,
        services: ServicesDep,
        names: NamedDependency[Names],
        wanted: NamedDependency[AuditFilter],
        order: FromQuery[Order] = "oldest",
        format: Annotated[ExportFormat | None, QueryParameter(description="else chosen by Accept")] = None,
    ) -> Stream:
        export_format = chosen_format(format, request.headers.get("accept", ""))
        pages = every_match(services.store, services.search, wanted, order, services.registry, names)
        return Stream(
            export_bytes(pages, export_format),
            media_type=MEDIA_TYPES[export_format],
            headers={"Content-Disposition": f'attachment; filename="audit.{export_format}"'},
        )
