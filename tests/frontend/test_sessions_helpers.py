"""The Sessions pages' pure helpers: the cost hint, totals, transcript rows and reading a turn's event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from frontend.catalog_api import ModelInfo
from frontend.money import usd
from frontend.pages.chat_state import entry_rows
from frontend.pages.instances_state import sessions_by_instance
from frontend.pages.model_picker import cost_hint
from frontend.pages.sessions import total_cost
from frontend.sessions_api import Agent, Message, Session, Turn, server_sent_events


def model(price_status: str = "known", price_in: float = 3.0, price_out: float = 15.0) -> ModelInfo:
    return ModelInfo(
        id="m",
        name="M",
        cost_per_1m_in=price_in,
        cost_per_1m_out=price_out,
        context_window=200_000,
        default_max_tokens=4096,
        price_status=price_status,
    )


def test_the_cost_hint_prices_1000_input_and_500_output_tokens() -> None:
    assert cost_hint(model()) == "1,000 input + 500 output tokens: $0.01"  # 0.003 + 0.0075
    assert cost_hint(model(price_in=0.14, price_out=0.28)) == "1,000 input + 500 output tokens: $0.00028"
    assert cost_hint(model("free", 0, 0)) == "1,000 input + 500 output tokens: $0.00"


def test_a_cost_below_a_cent_keeps_its_first_digits() -> None:
    assert [usd(v) for v in (0.0000088, 0.00028, 0.0012, 0.009999, 0.01, 1.5, 0)] == [
        "$0.0000088",
        "$0.00028",
        "$0.0012",
        "$0.01",
        "$0.01",
        "$1.50",
        "$0.00",
    ]


def test_an_unknown_price_is_never_shown_as_zero() -> None:
    assert cost_hint(model("unknown", 0, 0)) == "price unknown"
    assert cost_hint(None) == "price unknown"
    assert total_cost(0.0, 2) == "$0.00 + 2 turns of unknown price"
    assert total_cost(0.0, 1) == "$0.00 + 1 turn of unknown price"
    assert total_cost(1.5, 0) == "$1.50"


def test_turn_rows_show_model_instance_usage_cost_and_retry_the_failed_message() -> None:
    messages = [
        Message(1, "user", "hello", "2026-12-01T10:00:00+00:00", "local"),
        Message(
            2,
            "turn",
            "",
            "2026-12-01T10:00:01+00:00",
            "local",
            Turn(
                "t1",
                "completed",
                model_id="m-a",
                instance_id="i1",
                text="hi",
                input_tokens=1200,
                output_tokens=30,
                cost_usd=0.0012,
                price_status="known",
                ttft_ms=42.4,
            ),
        ),
        Message(3, "user", "again", "2026-12-01T10:01:00+00:00", "local"),
        Message(
            4,
            "turn",
            "",
            "2026-12-01T10:01:01+00:00",
            "local",
            Turn(
                "t2",
                "failed",
                model_id="m-b",
                instance_id="gone",
                text="par",
                cost_usd=None,
                error_outcome="rate_limited",
                message="slow down",
            ),
        ),
    ]
    first, _, second = entry_rows(messages, {"i1": "Local"})[1:]
    assert (first.model, first.instance, first.usage, first.cost, first.ttft) == (
        "m-a",
        "Local",
        "1K in · 30 out",
        "$0.0012",
        "42 ms",
    )
    assert first.retry_text == ""
    assert (
        second.instance,
        second.cost,
        second.error_outcome,
        second.problem,
        second.retry_text,
        second.ttft,
    ) == (
        "gone",
        "price unknown",
        "rate_limited",
        "slow down",
        "again",
        "–",
    )


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


def test_a_turn_stream_reads_as_named_events() -> None:
    stream = (
        'event: delta\ndata: {"text": "He"}\n\nevent: delta\ndata: {"text": "llo"}\n\n'
        ': keep-alive\n\nevent: turn\ndata: {}\n'
    )

    async def collect() -> list[tuple[str, str]]:
        return [event async for event in server_sent_events(lines_of(stream))]

    assert asyncio.run(collect()) == [
        ("delta", '{"text": "He"}'),
        ("delta", '{"text": "llo"}'),
        ("turn", "{}"),
    ]


def test_an_instance_lists_the_open_sessions_with_an_agent_on_it_once_each() -> None:
    sessions = [
        Session(
            "s1",
            "Plans",
            agents=[
                Agent("a1", "A", instance_id="i1"),
                Agent("a2", "B", instance_id="i1"),
            ],
        ),
        Session(
            "s2",
            "Review",
            agents=[
                Agent("a3", "A", instance_id="i2"),
                Agent("a4", "B", instance_id="i1"),
            ],
        ),
        Session("s3", "Old", archived=True, agents=[Agent("a5", "A", instance_id="i1")]),
    ]
    assert sessions_by_instance(sessions) == {"i1": "Plans, Review", "i2": "Review"}
