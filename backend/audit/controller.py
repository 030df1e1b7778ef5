"""HTTP routes over the event log: health, paged and filtered events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from backend.audit.names import Names
from backend.audit.schemas import MAX_POSITION, EventPage, Health, event_out
from backend.errors import FieldError, ValidationFailed
from backend.services import Services

ServicesDep = NamedDependency[Services]

MAX_PAGE = 500


class AuditController(Controller):
    path = "/api/v1"
    tags = ["audit"]

    @get("/health", summary="Service health and log position")
    async def health(self, services: ServicesDep) -> Health:
        store = services.store
        return Health(
            status="ok",
            version=services.version,
            last_position=await store.head(),
            event_count=await store.count(),
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
