"""The Audit page's pure helpers: the filter form read as a query, the export address, and what an event concerns."""

from __future__ import annotations

from frontend.api import AuditFilters
from frontend.pages.audit import Concerned, concerned, export_href, filters_from, pretty


def test_the_form_splits_types_and_reads_picked_times_as_utc() -> None:
    form = {"type": "InstanceCreated, KeyRotated  ", "actor": " web ", "stream": "", "since": "2026-01-31T12:00",
            "until": "2026-02-01T00:00:00+01:00", "q": "key"}
    assert filters_from(form) == AuditFilters(
        types=("InstanceCreated", "KeyRotated"), actor="web", since="2026-01-31T12:00:00Z",
        until="2026-02-01T00:00:00+01:00", q="key",
    )


def test_an_empty_form_matches_everything() -> None:
    assert filters_from({}) == AuditFilters()


def test_the_export_address_carries_every_filter_and_the_format() -> None:
    filters = AuditFilters(types=("A", "B"), stream="instance-", q="two words")
    assert export_href(filters, "csv") == "/api/v1/audit/export?type=A&type=B&stream=instance-&q=two+words&format=csv"
    assert export_href(AuditFilters(), "ndjson") == "/api/v1/audit/export?format=ndjson"


def test_an_event_links_to_its_stream_and_what_its_payload_names_once_each() -> None:
    data = {
        "instance_id": "i1", "turn": {"session_id": "s/1", "provider_id": "deepseek"},
        "agents": [{"instance_id": "i2"}],
    }
    assert concerned("instance-i1", data) == [
        Concerned("Instance i1", "/instances/view?id=i1"),
        Concerned("Instance i2", "/instances/view?id=i2"),
        Concerned("Session s/1", "/sessions/view?id=s%2F1"),
        Concerned("Provider deepseek", "/catalog/provider?id=deepseek"),
    ]
    assert concerned("catalog-acme", {}) == [Concerned("Provider acme", "/catalog/provider?id=acme")]
    assert concerned("e2e", {"version": "1"}) == []


def test_the_payload_is_pretty_printed() -> None:
    assert pretty('{"a":{"b":[1,"é"]}}') == '{\n  "a": {\n    "b": [\n      1,\n      "é"\n    ]\n  }\n}'
