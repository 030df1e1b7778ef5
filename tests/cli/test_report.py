"""`switchboard report cost`: the figures the API's cost report answers, as JSON and as a table with a total."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.settings import Settings
from tests.cli.test_commands import cli, ok_json, table
from tests.conftest import api_client
from tests.sessions.conftest import first_agent, priced_instance, send, session
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio


async def test_report_cost_matches_the_api_as_json_and_table(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with api_client(settings) as client:
        created = await session(client, await priced_instance(client, upstream))
        for text in ("one", "two"):
            await send(client, created["id"], first_agent(created), text)
        answered = (await client.get("/api/v1/reports/cost", params={"group_by": "model"})).json()
    reported = ok_json(cli(settings, "report", "cost", "--group-by", "model", "--json"))
    assert reported == answered and answered["total"]["turns"] == 2
    rows = table(cli(settings, "report", "cost", "--group-by", "model"))
    assert rows[0][:3] == ["GROUP", "TURNS", "UNPRICED"]
    assert rows[-1][:2] == ["total", "2"] and rows[-1][6] == f"{answered['total']['cost_usd']:.4f}"
    refused = cli(settings, "report", "cost", "--group-by", "colour")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "instance, model" in refused.stderr
    naive = cli(settings, "report", "cost", "--since", "2026-01-01T00:00:00")
    assert naive.returncode == 2 and "UTC offset" in naive.stderr


async def test_report_cost_split_by_lists_each_group_s_parts_under_it(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with api_client(settings) as client:
        created = await session(client, await priced_instance(client, upstream))
        await send(client, created["id"], first_agent(created), "one")
        params = {"group_by": "day", "split_by": "instance"}
        answered = (await client.get("/api/v1/reports/cost", params=params)).json()
    reported = ok_json(cli(settings, "report", "cost", "--split-by", "instance", "--json"))
    assert reported == answered and answered["groups"][0]["parts"][0]["turns"] == 1
    printed = cli(settings, "report", "cost", "--split-by", "instance")
    day, part = answered["groups"][0], answered["groups"][0]["parts"][0]
    assert [row[:2] for row in table(printed)[1:]] == [[day["key"], "1"], [part["name"], "1"], ["total", "1"]]
    assert printed.stdout.splitlines()[2].startswith(f"  {part['name']} ")  # a part is indented under its group
    same = cli(settings, "report", "cost", "--group-by", "model", "--split-by", "model")
    assert same.returncode == 2 and "split_by: must differ from group_by (model)" in same.stderr
    unknown = cli(settings, "report", "cost", "--split-by", "week")
    assert unknown.returncode == 2 and "--split-by 'week'" in unknown.stderr
