"""The report routes of the public API as the Reports page uses them: the cost report (decoded into the report's
own published schema) and an instance's connection tests."""

from __future__ import annotations

import msgspec

from backend.reports.schemas import CostFigures, CostGroup, CostPart, CostReport
from frontend.api import Client

# the cost report decodes into its own published schema, which the page reads from here
__all__ = ["ConnectionTest", "CostFigures", "CostGroup", "CostPart", "CostReport", "connection_tests", "cost_report"]

COST_REPORT = "/api/v1/reports/cost"


class ConnectionTest(msgspec.Struct, frozen=True):
    """One connection test as recorded: when, its outcome, HTTP status, latency and how many models it listed."""

    tested_at: str
    outcome: str
    http_status: int | None
    latency_ms: float
    model_count: int
    message: str


class _Tests(msgspec.Struct, frozen=True):
    tests: list[ConnectionTest]


async def cost_report(client: Client, group_by: str, since: str, split_by: str = "") -> CostReport:
    """The turns that ended since `since` (RFC 3339), grouped by `group_by`, each group split by `split_by`."""
    params = {"group_by": group_by, "since": since} | ({"split_by": split_by} if split_by else {})
    return msgspec.json.decode(await client.get_json(COST_REPORT, params), type=CostReport)


async def connection_tests(client: Client, instance_id: str, since: str) -> list[ConnectionTest]:
    """The instance's connection tests since `since`, oldest first."""
    raw = await client.get_json(f"/api/v1/instances/{instance_id}/tests", {"since": since})
    return msgspec.json.decode(raw, type=_Tests).tests
