"""GET /api/v1/audit/events over real HTTP: each filter, cursor paging both ways with `next`/`prev` links, order,
full-text search kept up with new events, and problem+json naming the field for bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta, timezone

import httpx
import pytest

from tests.audit_query.conftest import Seeded

ROUTE = "/api/v1/audit/events"
Params = dict[str, str | int | list[str]]


def positions(api: httpx.Client, **params: str | int | list[str]) -> list[int]:
    answer = api.get(ROUTE, params=params)
    assert answer.status_code == 200, answer.text
    return [event["position"] for event in answer.json()["events"]]


def seeded_where(seeded: Seeded, test: Callable[[str, str, str], bool]) -> list[int]:
    """The seeded positions whose (stream, type, actor) pass `test` (`lambda s, k, a: ...`), newest first."""
    return sorted((position for position, row in seeded.rows.items() if test(*row)), reverse=True)


def test_no_filter_pages_newest_first(api: httpx.Client, seeded: Seeded) -> None:
    answer = api.get(ROUTE).json()
    listed = [event["position"] for event in answer["events"]]
    assert listed == sorted(listed, reverse=True) and listed[0] == answer["head"]
    assert set(seeded.rows) <= set(listed)


def test_stream_exact_and_prefix(api: httpx.Client, seeded: Seeded) -> None:
    assert positions(api, stream="instance-alpha") == seeded_where(seeded, lambda s, k, a: s == 'instance-alpha')
    assert positions(api, stream="instance-") == seeded_where(seeded, lambda s, k, a: s.startswith('instance-'))
    assert positions(api, stream="instance") == []  # no prefix without the dash: 'instances' is not in it


def test_several_types(api: httpx.Client, seeded: Seeded) -> None:
    both = positions(api, type=["VaultUpgraded", "VaultRekeyed"])
    assert both == seeded_where(seeded, lambda s, k, a: k in ('VaultUpgraded', 'VaultRekeyed')) and len(both) == 2


def test_actor(api: httpx.Client, seeded: Seeded) -> None:
    assert positions(api, actor="bob") == seeded_where(seeded, lambda s, k, a: a == 'bob')


def test_since_inclusive_until_exclusive(api: httpx.Client, seeded: Seeded) -> None:
    middle = seeded.middle.isoformat()
    second_half = sorted(seeded.rows)[4:]
    assert [p for p in positions(api, since=middle) if p in seeded.rows] == second_half[::-1]
    assert positions(api, until=middle) == sorted(seeded.rows)[:4][::-1]
    assert positions(api, since=middle, until=middle) == []
    shown = api.get(ROUTE, params={"stream": "instance-alpha", "order": "oldest"}).json()["events"]
    exact = shown[1]["recorded_at"]
    assert positions(api, stream="instance-alpha", since=exact) == [shown[1]["position"]]
    assert positions(api, stream="instance-alpha", until=exact) == [shown[0]["position"]]


def test_instance_takes_its_stream_and_events_naming_it(api: httpx.Client, seeded: Seeded) -> None:
    named = seeded_where(seeded, lambda s, k, a: s == 'instance-alpha' or s == 'session-s2')
    assert positions(api, instance="alpha") == named
    assert positions(api, instance="alph") == []


def test_session(api: httpx.Client, seeded: Seeded) -> None:
    assert positions(api, session="s1") == seeded_where(seeded, lambda s, k, a: s == 'session-s1')


def test_filters_combine(api: httpx.Client, seeded: Seeded) -> None:
    combined = positions(api, stream="instance-", actor="alice", type="VaultRekeyed")
    wanted = seeded_where(seeded, lambda s, k, a: s.startswith("instance-") and a == "alice" and k == "VaultRekeyed")
    assert combined == wanted
    assert len(combined) == 1


def test_full_text_search(api: httpx.Client, seeded: Seeded) -> None:
    amber = seeded_where(seeded, lambda s, k, a: s in ('instance-alpha', 'instance-beta') and k == 'ServiceStarted')
    assert positions(api, q="amber") == amber
    assert positions(api, q="amber lantern") == amber[1:]  # every word must appear
    assert positions(api, q="rot") == seeded_where(seeded, lambda s, k, a: s == 'session-s1' and a == 'bob')  # prefix
    assert positions(api, q="k1") == seeded_where(seeded, lambda s, k, a: k == 'VaultRekeyed')
    assert positions(api, q='lantern AND "x" NEAR(') == []  # FTS syntax is searched for, never run
    assert positions(api, q="harbour", stream="instance-") == []


def test_search_sees_events_written_since_the_last_search(api: httpx.Client) -> None:
    assert positions(api, q="ZephyrLab") == []
    token = api.post("/api/v1/tokens", json={"name": "zephyrlab-admin", "role": "admin"})
    assert token.status_code == 201, token.text
    signed_in = {"Authorization": f"Bearer {token.json()['token']}"}
    found = api.get(ROUTE, params={"q": "zephyrlab"}, headers=signed_in).json()["events"]
    assert [event["type"] for event in found] == ["TokenIssued"]


def test_cursor_pages_both_ways_with_links(api: httpx.Client, seeded: Seeded) -> None:
    everything = positions(api, stream="instance-", limit=500)
    first = api.get(ROUTE, params={"stream": "instance-", "limit": 1}).json()
    assert [e["position"] for e in first["events"]] == everything[:1] and first["prev"] is None
    walked, page = [first["events"][0]["position"]], first
    while page["next"]:
        assert "stream=instance-" in page["next"] and "limit=1" in page["next"]
        page = api.get(page["next"]).json()
        walked += [e["position"] for e in page["events"]]
    assert walked == everything
    back, page = [], page
    while page["prev"]:
        page = api.get(page["prev"]).json()
        back += [e["position"] for e in page["events"]]
    assert back == everything[:-1][::-1]


def test_oldest_first_pages_forward(api: httpx.Client, seeded: Seeded) -> None:
    oldest = positions(api, order="oldest", limit=3)
    assert oldest == [1, 2, 3]
    page = api.get(ROUTE, params={"order": "oldest", "limit": 3}).json()
    assert "after=3" in page["next"] and "order=oldest" in page["next"]
    assert positions(api, order="oldest", limit=3, after=3) == [4, 5, 6]
    assert positions(api, order="oldest", limit=2, before=6) == [4, 5]  # the page nearest the cursor
    assert positions(api, limit=2, after=3) == [5, 4]  # newest first, nearest the cursor
    assert positions(api, after=2, before=6) == [5, 4, 3]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after": -1}, "after"),
        ({"before": "x"}, "before"),
        ({"after": 5, "before": 5}, "before"),
        ({"order": "sideways"}, "order"),
        ({"q": "   "}, "q"),
        ({"q": "ok " + "a" * 201}, "q"),
        ({"stream": ""}, "stream"),
        ({"type": ""}, "type"),
        ({"instance": " "}, "instance"),
        ({"colour": "red"}, "colour"),
        ({"after": 2**63}, "after"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(api: httpx.Client, params: Params, field: str) -> None:
    for route in (ROUTE, "/api/v1/audit/export"):
        answer = api.get(route, params=params)
        assert answer.status_code in (400, 422), (route, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in [error["field"] for error in answer.json()["errors"]], (route, answer.text)


def test_a_time_in_another_zone_means_the_same_moment(api: httpx.Client, seeded: Seeded) -> None:
    shifted = seeded.middle.astimezone(timezone(timedelta(hours=5))).isoformat()
    assert positions(api, since=shifted) == positions(api, since=seeded.middle.isoformat())
