"""One history written to an SQLite store and to a PostgreSQL one: every audit filter (stream and prefix, type,
actor, since/until, instance, session, words and prefixes, and their combinations), paged by cursors both ways,
answers the same events on both, as an export too, and each store's views equal a replay of its log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed, VaultUpgraded
from backend.audit.instance_refs import TABLE as REFS_TABLE
from backend.audit.query import AuditFilter, Order, every_match, query_page
from backend.audit.search_view import TABLE as SEARCH_TABLE
from backend.cli.log import check_views
from backend.services import Services, open_services
from backend.sessions.events import AgentCreated, ModelChoice, SessionCreated
from backend.settings import Settings
from events import Event, Metadata
from tests.on_postgres.conftest import on_postgres

pytestmark = pytest.mark.anyio


def started(text: str) -> ServiceStarted:
    return ServiceStarted(version="1", data_dir=text)


def choice(instance_id: str) -> ModelChoice:
    return ModelChoice(instance_id=instance_id, provider_id="openai", model_id="gpt-4o")


def agent(instance_id: str) -> AgentCreated:
    return AgentCreated(agent_id="a1", name="Reviewer", choice=choice(instance_id), system_prompt="",
                        reasoning_effort=None, max_tokens=None)


Written = tuple[str, Event, str]
FIRST_HALF: list[Written] = [
    ("instance-alpha", started("/srv/amber lantern"), "alice"),
    ("instance-beta", VaultUpgraded(count=2, from_format=1, to_format=2), "bob"),
    ("session-s1", started("/srv/quiet harbour Café-Olé notes"), "alice"),
    ("instances", started("/srv/not an instance stream"), "carol"),
    ("team-a-1", started('quoted "AND" NEAR(x) col:umn *star a&b|!c <-> :* \\ back'), "bob"),
    ("team-a-2", started("snake_case_word o'brien's key"), "carol"),
    ("team-b-1", started("Ünïcode ÅNGSTRÖM naïve"), "alice"),
    ("teams", started("rotation 2026-01-31T10:00:00Z"), "bob"),
    ("session-s1", agent("gamma"), "alice"),
]
SECOND_HALF: list[Written] = [
    ("session-s2", SessionCreated(session_id="s2", name="Planning", default=choice("alpha"), system_prompt=""), "bob"),
    ("instance-alpha", VaultRekeyed(count=1, unreadable=0, key_id="k2", previous_key_id="k1"), "alice"),
    ("instance-beta", started("/srv/amber meadow"), "carol"),
    ("session-s1", started("/srv/rotation notes amber"), "bob"),
    ("team-a-1", started("amber amberly ambergris"), "alice"),
    ("session-s2", agent("beta"), "carol"),
    ("instance-gamma", started("lantern amber"), "bob"),
]


class Stores(msgspec.Struct, frozen=True):
    """The services on each backend after the same history, and when its second half began."""

    sqlite: Services
    postgres: Services
    middle: datetime


@pytest.fixture
def postgres_settings(tmp_path: Path, postgres_url: str) -> Settings:
    return on_postgres(tmp_path / "pg", postgres_url)


@pytest.fixture
async def stores(tmp_path: Path, postgres_settings: Settings) -> AsyncIterator[Stores]:
    """Both services, opened as a command opens them (nothing announced, so the two logs hold only the history)."""
    async with AsyncExitStack() as stack:
        both = [await stack.enter_async_context(open_services(settings, serving=False))
                for settings in (Settings(data_dir=tmp_path / "sqlite"), postgres_settings)]
        middle = datetime.now(UTC)
        for half in (FIRST_HALF, SECOND_HALF):
            if half is SECOND_HALF:
                middle = datetime.now(UTC)
            for stream, event, actor in half:
                event_id = f"event-{await both[0].store.head() + 1:03d}"
                for services in both:
                    await services.store.append(stream, [event], metadata=Metadata(actor=actor), event_ids=[event_id])
        yield Stores(*both, middle=middle)


WORDS = [
    "amber", "amb lan", "lantern amber", "amber zzz", "AMBER", "cafe", "Café-Ol", "olé", "caf ol", "notes café",
    "quiet-harbour", "AND", '"', "NEAR(x)", "col:umn", "*", "a&b|!c", "<->", ":*", "\\", "'", "---", "snake",
    "case", "snake_case", "o'brien", "brien", "ångström", "angst", "unicode", "naive", "instance-al", "2026-01",
    "10:00", "ServiceStarted", "VaultRek", "rotation", "alice", "session-s", "k2",
]


def filters(middle: datetime) -> list[AuditFilter]:
    return [
        AuditFilter(),
        *(AuditFilter(stream=stream) for stream in (
            "instance-alpha", "instance-", "instance", "team-a-", "team-", "teams", "team", "session-s1", "nowhere-")),
        AuditFilter(types=("VaultUpgraded", "VaultRekeyed")),
        AuditFilter(types=("AgentCreated",)),
        AuditFilter(actor="bob"),
        AuditFilter(since=middle), AuditFilter(until=middle), AuditFilter(since=middle, until=middle),
        *(AuditFilter(instance=instance) for instance in ("alpha", "beta", "gamma", "alph")),
        AuditFilter(session="s1"), AuditFilter(session="s2"),
        *(AuditFilter(q=words) for words in WORDS),
        AuditFilter(q="amber", instance="alpha"),
        AuditFilter(q="srv", since=middle),
        AuditFilter(q="amber", stream="team-"),
        AuditFilter(q="started", actor="alice", until=middle),
        AuditFilter(stream="instance-", actor="alice", types=("VaultRekeyed",)),
        AuditFilter(instance="alpha", since=middle, actor="alice"),
        AuditFilter(instance="beta", stream="session-s2"),
        AuditFilter(session="s1", types=("ServiceStarted",), q="notes"),
    ]


Found = list[tuple[int, str]]


async def walk(services: Services, wanted: AuditFilter, order: Order, limit: int = 2) -> Found:
    """Every matching event, a page of `limit` at a time, each page asked from the cursor the last one ended at."""
    found: Found = []
    cursor = msgspec.structs.replace(wanted)
    while True:
        page = await query_page(services.store, services.search, cursor, order, limit)
        found += [(event.position, event.event_id) for event in page.events]
        if not page.more:
            return found
        edge = page.events[-1].position
        cursor = msgspec.structs.replace(wanted, **({"before": edge} if order == "newest" else {"after": edge}))


async def exported(services: Services, wanted: AuditFilter, order: Order) -> list[tuple[object, ...]]:
    """The export's rows without their times (each store recorded its own)."""
    rows: list[tuple[object, ...]] = []
    async for page in every_match(services.store, services.search, wanted, order, services.registry, page_size=3):
        rows += [(row.position, row.event_id, row.stream_id, row.type, row.actor, row.summary, bytes(row.data))
                 for row in page]
    return rows


async def test_every_filter_pages_the_same_events_both_ways_on_both_backends(stores: Stores) -> None:
    for wanted in filters(stores.middle):
        newest = await walk(stores.postgres, wanted, "newest")
        assert newest == await walk(stores.sqlite, wanted, "newest"), wanted
        assert await walk(stores.postgres, wanted, "oldest") == newest[::-1], wanted
        if len(newest) > 2:  # a window between two cursors, from either end
            window = msgspec.structs.replace(wanted, after=newest[-1][0], before=newest[0][0])
            for order in ("newest", "oldest"):
                inner = await walk(stores.postgres, window, order, limit=1)
                assert inner == await walk(stores.sqlite, window, order, limit=1), (window, order)
                assert sorted(inner) == sorted(newest[1:-1])


async def test_the_answers_are_the_history_s(stores: Stores) -> None:
    """Not only equal on both backends but right: checked against the history written, for filters a test can
    work out by hand."""
    history = [*FIRST_HALF, *SECOND_HALF]
    second_half = range(len(FIRST_HALF) + 1, len(history) + 1)

    async def positions(**fields: object) -> list[int]:
        return [position for position, _ in await walk(stores.postgres, AuditFilter(**fields), "oldest")]

    def where(test: object) -> list[int]:
        return [n for n, (stream, event, actor) in enumerate(history, 1) if test(stream, type(event).__name__, actor)]

    assert await positions(stream="team-a-") == where(lambda s, k, a: s.startswith("team-a-"))
    assert await positions(stream="team-") == where(lambda s, k, a: s.startswith("team-"))
    assert await positions(stream="team") == []
    assert await positions(actor="carol") == where(lambda s, k, a: a == "carol")
    assert await positions(since=stores.middle) == list(second_half)
    assert await positions(instance="alpha") == [1, 10, 11]  # its stream, and a session created on it
    assert await positions(instance="gamma") == [9, 16]  # an agent on it, and its stream
    assert await positions(q="amber") == [1, 12, 13, 14, 16]
    assert await positions(q="amb lan") == [1, 16]
    assert await positions(q="cafe ol") == [3]  # accents folded, each word a prefix
    assert await positions(q="Café-Ol") == [3]  # parts of a word in a row
    assert await positions(q="harbour-quiet") == []  # not in that order
    assert await positions(q="angstrom naive") == [7]
    assert await positions(q="NEAR(x)") == [5] and await positions(q="a&b|!c") == [5]  # searched for, never run
    assert await positions(q="---") == [] and await positions(q="'") == []


async def test_exports_are_the_same_rows_on_both_backends(stores: Stores) -> None:
    for wanted in (AuditFilter(), AuditFilter(stream="instance-"), AuditFilter(q="amber"), AuditFilter(instance="beta"),
                   AuditFilter(since=stores.middle)):
        for order in ("newest", "oldest"):
            rows = await exported(stores.postgres, wanted, order)
            assert rows and rows == await exported(stores.sqlite, wanted, order), (wanted, order)


async def test_views_check_finds_every_view_equal_to_a_replay_and_the_references_are_the_same_on_both_backends(
    stores: Stores, tmp_path: Path, postgres_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    for services, settings in ((stores.sqlite, Settings(data_dir=tmp_path / "sqlite")), (stores.postgres, postgres_settings)):
        await services.search.up_to_date()  # the search view has followed the log to its head
        assert await check_views(settings, None, as_json=True) == 0
        checked = {row["view"]: row for row in msgspec.json.decode(capsys.readouterr().out)}
        assert all(row["equal"] for row in checked.values()), checked
        assert all(checked[name]["rows"] > 0 for name in ("sessions", REFS_TABLE, SEARCH_TABLE)), checked
    query = f"SELECT instance_id, position FROM {REFS_TABLE} ORDER BY instance_id, position"
    references = await stores.postgres.store.fetch(query)
    assert references == await stores.sqlite.store.fetch(query)
    assert ("alpha", 1) in references and ("gamma", 9) in references


async def test_a_text_longer_than_a_tsvector_holds_is_indexed_by_its_first_words(postgres_settings: Settings) -> None:
    many = " ".join(f"w{number:07d}" for number in range(110_000))  # 1 MB of words no two alike
    async with open_services(postgres_settings, serving=False) as services:
        await services.store.append("team-long", [started(f"opening {many} closing")], metadata=Metadata(actor="ann"))
        await services.store.append("team-long", [started("after")], metadata=Metadata(actor="ann"))
        found = {word: [position for position, _ in await walk(services, AuditFilter(q=word), "oldest")]
                 for word in ("opening", "w0000001", "after")}
        assert services.store.followers.failures() == []
        assert found == {"opening": [1], "w0000001": [1], "after": [2]}
        assert await walk(services, AuditFilter(q="closing"), "oldest") == []  # past what is indexed
