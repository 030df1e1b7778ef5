"""GET /api/v1/audit/export over real HTTP: NDJSON and CSV chosen by format= or Accept, the same filters and order
as the query, and every matching event once however many pages it spans."""

from __future__ import annotations

import csv
import io
import json

import httpx

from backend.audit.export import CSV_COLUMNS
from tests.audit_query.conftest import Seeded

ROUTE = "/api/v1/audit/export"
QUERY = "/api/v1/audit/events"


def queried(api: httpx.Client, **params: str) -> list[dict[str, object]]:
    events: list[dict[str, object]] = api.get(QUERY, params={**params, "limit": 500}).json()["events"]
    return events


def test_ndjson_is_the_query_as_lines(api: httpx.Client, seeded: Seeded) -> None:
    answer = api.get(ROUTE, params={"stream": "instance-", "order": "newest"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="audit.ndjson"' in answer.headers["content-disposition"]
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert lines == queried(api, stream="instance-", order="newest")


def test_csv_by_format_or_accept(api: httpx.Client, seeded: Seeded) -> None:
    by_format = api.get(ROUTE, params={"format": "csv", "actor": "alice"})
    by_accept = api.get(ROUTE, params={"actor": "alice"}, headers={"Accept": "text/html;q=0.9, text/csv"})
    assert by_format.text == by_accept.text
    assert by_format.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by_format.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = queried(api, actor="alice", order="oldest")
    assert [int(row["position"]) for row in rows] == [event["position"] for event in expected]
    assert [json.loads(row["data"]) for row in rows] == [event["data"] for event in expected]
    assert [row["summary"] for row in rows] == [event["summary"] for event in expected]


def test_format_wins_over_accept(api: httpx.Client, seeded: Seeded) -> None:
    answer = api.get(ROUTE, params={"format": "ndjson"}, headers={"Accept": "text/csv"})
    assert answer.headers["content-type"].startswith("application/x-ndjson")


def test_search_and_window_filters_apply(api: httpx.Client, seeded: Seeded) -> None:
    lines = api.get(ROUTE, params={"q": "amber", "after": 1, "before": 8}).text.splitlines()
    assert [json.loads(line)["data"]["data_dir"] for line in lines] == ["/srv/amber meadow"]


def test_a_formula_a_client_sent_is_kept_as_text(api: httpx.Client) -> None:
    formula = '=HYPERLINK("http://example.invalid","x")'
    token = api.post("/api/v1/tokens", json={"name": "ops", "role": "admin"}, headers={"X-Request-ID": formula})
    assert token.status_code == 201, token.text
    signed_in = {"Authorization": f"Bearer {token.json()['token']}"}
    text = api.get(ROUTE, params={"format": "csv", "type": "TokenIssued"}, headers=signed_in).text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["request_id"] == "'" + formula
