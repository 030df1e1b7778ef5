"""An endpoint URL carrying credentials (user info, an `api-key=` query) is shown without them, everywhere."""

from __future__ import annotations

import pytest

from backend.catalog.placeholders import shown_url
from tests.instances.conftest import SECRET, Client, create

pytestmark = pytest.mark.anyio
ENDPOINT = "https://alice:s3cret-pw@gw.example/v1?api-key=abc123#frag"
HIDDEN = ("alice", "s3cret-pw", "abc123", "frag")


async def test_resolved_endpoints_never_show_user_info_or_query(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    created = await create(client)
    answers = [
        await client.get("/api/v1/catalog/providers/openai"),
        await client.get("/api/v1/instances"),
        await client.get(f"/api/v1/instances/{created['id']}"),
        await client.get("/api/v1/import/env"),
    ]
    assert all(answer.status_code == 200 for answer in answers)
    assert answers[0].json()["resolved_endpoint"] == "https://gw.example/v1"
    assert answers[2].json()["default_endpoint"] == "https://gw.example/v1"
    [candidate] = [c for c in answers[3].json()["candidates"] if c["provider_id"] == "openai"]
    assert candidate["default_endpoint"] == "https://gw.example/v1"
    assert created["default_endpoint"] == "https://gw.example/v1"
    for answer in answers:
        assert not [word for word in HIDDEN if word in answer.text], answer.text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example:8443/v1?k=v#f", "https://h.example:8443/v1"),
        ("https://h.example/v1", "https://h.example/v1"),
        ("http://[::1]:11434", "http://[::1]:11434"),
        ("", ""),
        ("not a url", "not a url"),
    ],
)
def test_shown_url_drops_user_info_query_and_fragment(url: str, shown: str) -> None:
    assert shown_url(url) == shown
