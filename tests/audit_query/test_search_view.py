"""The FTS5 search view is a view of the log: rebuilt from position 0 it finds exactly what the live one found,
and it never indexes what an event type withholds from readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed
from backend.audit.query import AuditFilter, query_page
from backend.audit.search_view import AuditSearchView, bring_up_to_date
from backend.auth.events import TokenIssued
from backend.services import build_registry
from events import Metadata, SQLiteEventStore

pytestmark = pytest.mark.anyio
WORDS = ("amber", "harbour", "k7", "rekeyed", "srv", "loader", "nothing-here")


async def found(store: SQLiteEventStore) -> dict[str, list[int]]:
    pages = {word: await query_page(store, AuditFilter(q=word), "oldest", 500) for word in WORDS}
    return {word: [event.position for event in page.events] for word, page in pages.items()}


async def test_a_rebuilt_search_view_finds_what_the_live_one_found(tmp_path: Path) -> None:
    async with SQLiteEventStore.open(tmp_path / "events.sqlite3", registry=build_registry()) as store:
        for n in range(30):
            text = ("/srv/amber", "/srv/harbour", "/srv/amber harbour")[n % 3]
            await store.append(f"s-{n % 4}", [ServiceStarted(version=str(n), data_dir=text)],
                               metadata=Metadata(actor="loader"))
            if n % 7 == 0:  # searched between appends: the view catches up in steps
                await found(store)
        rekeyed = VaultRekeyed(count=1, unreadable=0, key_id="k7", previous_key_id="k6")
        await store.append("service", [rekeyed], metadata=Metadata(actor="cli:ops"))
        live = await found(store)
        view = AuditSearchView(store.registry)
        await store.rebuild(view)
        await bring_up_to_date(store, view)
        assert await found(store) == live
    assert len(live["amber"]) == 20 and len(live["harbour"]) == 20 and live["k7"] == [31]
    assert live["nothing-here"] == [] and len(live["loader"]) == 30


async def test_what_an_event_withholds_is_not_searchable(tmp_path: Path) -> None:
    issued = TokenIssued(token_id="t1", name="ops", role="admin", hash_prefix="ab12", token_hash="f00dfacecafe")
    async with SQLiteEventStore.open(tmp_path / "events.sqlite3", registry=build_registry()) as store:
        await store.append("tokens", [issued], metadata=Metadata(actor="local"))
        assert (await query_page(store, AuditFilter(q="f00dfacecafe"), "oldest", 10)).events == []
        assert len((await query_page(store, AuditFilter(q="ab12"), "oldest", 10)).events) == 1
