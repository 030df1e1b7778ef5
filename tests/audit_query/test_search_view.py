"""The FTS5 search view is a view of the log: rebuilt from position 0 it finds exactly what the live one found,
it never indexes what an event type withholds from readers, and the server starts following the log with it as it
starts, without waiting for it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed
from backend.audit.query import AuditFilter, query_page
from backend.audit.search_view import TABLE, AuditSearchView, SearchIndex
from backend.auth.events import TokenIssued
from backend.services import build_registry, open_services
from backend.settings import Settings
from events import CatchUpRunner, Metadata, SQLiteEventStore
from tests.audit_query.conftest import search_index

pytestmark = pytest.mark.anyio
WORDS = ("amber", "harbour", "k7", "rekeyed", "srv", "loader", "nothing-here")
LOADER = Metadata(actor="loader")


async def found(store: SQLiteEventStore, search: SearchIndex) -> dict[str, list[int]]:
    pages = {word: await query_page(store, search, AuditFilter(q=word), "oldest", 500) for word in WORDS}
    return {word: [event.position for event in page.events] for word, page in pages.items()}


async def test_a_rebuilt_search_view_finds_what_the_live_one_found(tmp_path: Path) -> None:
    async with (
        SQLiteEventStore.open(tmp_path / "events.sqlite3", registry=build_registry()) as store,
        search_index(store) as search,
    ):
        for n in range(30):
            text = ("/srv/amber", "/srv/harbour", "/srv/amber harbour")[n % 3]
            await store.append(f"s-{n % 4}", [ServiceStarted(version=str(n), data_dir=text)],
                               metadata=Metadata(actor="loader"))
            if n % 7 == 0:  # searched between appends: the view catches up in steps
                await found(store, search)
        rekeyed = VaultRekeyed(count=1, unreadable=0, key_id="k7", previous_key_id="k6")
        await store.append("service", [rekeyed], metadata=Metadata(actor="cli:ops"))
        live = await found(store, search)
        await store.rebuild(AuditSearchView(store.registry))
        assert await found(store, search) == live
    assert len(live["amber"]) == 20 and len(live["harbour"]) == 20 and live["k7"] == [31]
    assert live["nothing-here"] == [] and len(live["loader"]) == 30


async def test_what_an_event_withholds_is_not_searchable(tmp_path: Path) -> None:
    issued = TokenIssued(token_id="t1", name="ops", role="admin", hash_prefix="ab12", token_hash="f00dfacecafe")
    async with (
        SQLiteEventStore.open(tmp_path / "events.sqlite3", registry=build_registry()) as store,
        search_index(store) as search,
    ):
        await store.append("tokens", [issued], metadata=Metadata(actor="local"))
        assert (await query_page(store, search, AuditFilter(q="f00dfacecafe"), "oldest", 10)).events == []
        assert len((await query_page(store, search, AuditFilter(q="ab12"), "oldest", 10)).events) == 1


async def test_the_server_starts_indexing_the_log_as_it_starts_without_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(mode=0o700)
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        await store.append("service", [ServiceStarted(version="1", data_dir="/srv/quartz")], metadata=LOADER)
    entered, release = anyio.Event(), anyio.Event()
    follow = CatchUpRunner.follow

    async def held(runner: CatchUpRunner) -> None:
        entered.set()
        await release.wait()
        await follow(runner)

    monkeypatch.setattr(CatchUpRunner, "follow", held)
    with anyio.fail_after(60):  # a guard against hanging: start-up waiting for the index would never get here
        async with open_services(settings) as services:
            await entered.wait()  # following the log already, and no search was made
            behind = await services.store.checkpoint(TABLE)
            release.set()
            page = await query_page(services.store, services.search, AuditFilter(q="quartz"), "oldest", 10)
    assert behind == 0
    assert [(event.type, event.stream_id) for event in page.events] == [("ServiceStarted", "service")]
