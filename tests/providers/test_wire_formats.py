"""The pure pieces under the protocols: SSE framing, retry hints, status classification, scrubbing."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from backend.providers.failures import classify_status, retry_after_seconds, scrub, secrets_of
from backend.providers.sse import SseEvent, sse_events
from backend.secret import Secret


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


@pytest.mark.anyio
async def test_sse_events_join_data_lines_skip_comments_and_keep_a_last_unterminated_event() -> None:
    lines = _lines(": keep-alive", "event: message_start", 'data: {"a":', "data: 1}", "", "", "data:[DONE]")
    assert [event async for event in sse_events(lines)] == [
        SseEvent("message_start", '{"a":\n1}'),
        SseEvent("message", "[DONE]"),
    ]


def test_retry_after_is_read_in_milliseconds_seconds_or_as_a_date() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": later}) or 0) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


@pytest.mark.parametrize(
    ("status", "reasons", "outcome"),
    [
        (401, [], "auth_failed"),
        (403, [], "auth_failed"),
        (400, ["API_KEY_INVALID"], "auth_failed"),
        (400, [], "bad_response"),
        (404, [], "not_found"),
        (408, [], "timeout"),
        (429, [], "rate_limited"),
        (503, [], "server_error"),
        (529, [], "server_error"),
    ],
)
def test_statuses_are_classified(status: int, reasons: list[str], outcome: str) -> None:
    assert classify_status(status, reasons) == outcome


def test_secrets_include_the_key_and_credential_header_values_but_not_other_headers() -> None:
    secrets = secrets_of(Secret("k-1"), {"authorization": "Bearer tok-2", "x-goog-api-key": "g-3", "x-title": "Switchboard"})
    assert set(secrets) == {"k-1", "Bearer tok-2", "tok-2", "g-3"}
    assert scrub("Bearer tok-2 and k-1 for Switchboard", secrets) == "[redacted] and [redacted] for Switchboard"
