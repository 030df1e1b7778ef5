"""HTTP routes for reports: parse the query, call one report function, answer its figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from backend.reports.cost import cost_report
from backend.reports.schemas import CostReport, GroupBy
from backend.services import Services

SINCE_HELP = "Turns that ended at or after this time (RFC 3339, with its UTC offset)"
UNTIL_HELP = "Turns that ended before this time (RFC 3339, with its UTC offset)"
SPLIT_HELP = "Split each group's figures into parts by this too (e.g. each day by instance); not group_by itself"


class ReportsController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]

    @get("/cost", summary="Turns, tokens and cost grouped, at the prices recorded and at today's catalog prices")
    async def cost(
        self,
        services: NamedDependency[Services],
        group_by: Annotated[GroupBy, QueryParameter(description="What each row of the report stands for")] = "day",
        since: Annotated[datetime | None, QueryParameter(description=SINCE_HELP)] = None,
        until: Annotated[datetime | None, QueryParameter(description=UNTIL_HELP)] = None,
        split_by: Annotated[GroupBy | None, QueryParameter(description=SPLIT_HELP)] = None,
    ) -> CostReport:
        return await cost_report(services, group_by, since, until, split_by)
