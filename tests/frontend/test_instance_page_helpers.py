"""The instance page's pure helpers: the address it keeps its points in, which points it refuses, the configuration
it lists (never a key), and a comparison's rows in words."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import msgspec

from frontend.instances_api import (
    CredentialSummary,
    FieldChange,
    HistoryEvent,
    Instance,
    LastTest,
    LoggedAt,
)
from frontend.pages.audit import concerned
from frontend.pages.instance_page_state import (
    Address,
    ChangedBy,
    ChangeRow,
    Fact,
    change_row,
    facts_of,
    point_problem,
    timeline_entry,
    with_links,
)

INSTANCE = Instance(
    id="i1", name="Lab", provider_id="deepseek", provider_type="openai-compat", endpoint="", timeout_ms=30_000,
    version=4, status="connected", credential=CredentialSummary("wxyz", verified=True, version=2), model_count=2,
    last_test=LastTest(outcome="ok", latency_ms=9.6, model_count=2, message="2 models listed",
                       tested_at="2026-11-24T02:50:01Z"),
    default_endpoint="https://api.deepseek.com/v1", key_required=True, max_attempts=3, backoff_ms=500,
)


def test_the_address_keeps_the_instance_the_point_and_the_comparison() -> None:
    assert Address("i 1").href() == "/instances/view?id=i%201"
    assert Address("i1", 12).href() == "/instances/view?id=i1&as_of=12"
    href = Address("i/1", 12, "now").href()
    assert parse_qs(urlsplit(href).query) == {"id": ["i/1"], "as_of": ["12"], "compare": ["now"]}
    assert Address("i1", 0, "9").href() == "/instances/view?id=i1&compare=9"


def test_a_point_must_be_an_event_of_the_log() -> None:
    assert point_problem("as_of", "12", head=12) == ""
    assert point_problem("compare", "now", head=12, allow_now=True) == ""
    assert "not a point of the log" in point_problem("as_of", "now", head=12)
    assert "not a point of the log" in point_problem("as_of", "abc", head=12)
    assert "not a point of the log" in point_problem("as_of", "0", head=12)
    assert "not a point of the log" in point_problem("as_of", "-3", head=12)
    assert "not a point of the log" in point_problem("as_of", "١٢", head=12)  # digits, but not ASCII ones
    assert point_problem("as_of", "13", head=12) == "There is no event #13 yet (as_of): the log ends at event #12."


def test_the_configuration_names_the_key_by_its_last_four_and_the_default_endpoint_by_its_url() -> None:
    facts = {fact.name: fact for fact in facts_of(INSTANCE)}
    assert facts["endpoint"].value == "provider default: https://api.deepseek.com/v1"
    assert facts["timeout"].value == "30,000 ms"
    assert facts["retries"].value == "up to 3 attempts, 500 ms apart at first, doubling"
    assert facts["key"].value == "•••• wxyz"
    assert facts["status"] == Fact("Status", "connected", "status", code="connected")
    assert facts["outcome"].code == "ok" and facts["models"].value == "2 models"
    assert "headers" not in facts and "api-version" not in facts


def test_headers_api_version_and_a_single_attempt_are_listed_when_set() -> None:
    changed = msgspec.structs.replace(
        INSTANCE, headers={"X-Team": "lab"}, api_version="2024-10-21", max_attempts=1, credential=None,
        last_test=None,
    )
    facts = {fact.name: fact.value for fact in facts_of(changed)}
    assert (facts["headers"], facts["api-version"], facts["retries"]) == ("X-Team: lab", "2024-10-21",
                                                                          "1 attempt, no retries")
    assert facts["key"] == "none" and "outcome" not in facts


def test_a_change_is_shown_in_words_with_the_events_that_made_it() -> None:
    update = LoggedAt(position=14, type="InstanceUpdated", actor="token:ops", recorded_at="2026-11-24T02:50:01Z")
    test = LoggedAt(position=15, type="ConnectionTested", actor="local", recorded_at="2026-11-24T03:00:00Z")
    assert change_row(FieldChange("timeout_ms", 30_000, 5_000, [update])) == ChangeRow(
        "Timeout (ms)", "30,000", "5,000", [ChangedBy("#14 InstanceUpdated", "token:ops · 2026-11-24 02:50:01 UTC")]
    )
    assert change_row(FieldChange("endpoint", "", "http://127.0.0.1:9/v1", [update])).before == "provider default"
    status = change_row(FieldChange("status", "untested", "connected", [test]))
    assert (status.before, status.after) == ("Untested", "Connected")
    key = change_row(FieldChange("credential.fingerprint", None, "b40fa235b51e3816", [test]))
    assert (key.field, key.before, key.after) == ("Key fingerprint", "–", "b40fa235…")
    assert change_row(FieldChange("headers.X-Team", "a", "b", [])).field == "Header X-Team"
    assert change_row(FieldChange("credential.verified", False, True, [])).after == "yes"


def test_timeline_entries_link_to_their_point_and_to_a_comparison_with_the_shown_one() -> None:
    event = HistoryEvent(position=14, version=3, type="InstanceUpdated", actor="local",
                         recorded_at="2026-11-24T02:50:01Z", summary="Instance 'Lab' changed: timeout_ms")
    entry = with_links(timeline_entry(event), Address("i1", 12, "now"))
    assert entry.as_of_href == "/instances/view?id=i1&as_of=14"  # a comparison from another point is dropped
    assert entry.compare_href == "/instances/view?id=i1&as_of=12&compare=14"
    assert (entry.shown, entry.compared, entry.time) == (False, False, "2026-11-24 02:50:01 UTC")
    assert with_links(timeline_entry(event), Address("i1", 14)).shown
    assert with_links(timeline_entry(event), Address("i1", 0, "14")).compared
    deleted = msgspec.structs.replace(event, type="InstanceDeleted")
    assert with_links(timeline_entry(deleted), Address("i1")).as_of_href == ""  # nothing to show as of a deletion


def test_the_audit_detail_links_to_the_instance_page() -> None:
    assert [link.href for link in concerned("instance-i1", {})] == ["/instances/view?id=i1"]
