"""The Catalog page's state: what it takes from the address and from the browser, and what it asks the API."""

from __future__ import annotations

import socket

import pytest

from frontend.forms import UNREACHABLE
from frontend.pages.catalog import CatalogState, _whole, last_page

pytestmark = pytest.mark.anyio


def fresh() -> CatalogState:
    return CatalogState(_reflex_internal_init=True)  # type: ignore[call-arg]


@pytest.mark.parametrize(("text", "page"), [("3", 3), ("", 1), ("0", 1), ("-2", 1), ("²", 1), ("x", 1)])
def test_a_page_number_from_the_address_is_a_whole_number_or_the_first_page(text: str, page: int) -> None:
    assert _whole(text, 1) == page


def test_the_last_page_is_never_below_the_first() -> None:
    assert [last_page(total) for total in (0, 1, 50, 51, 1534)] == [1, 1, 1, 2, 31]


def test_a_price_limit_of_0_asks_for_free_models_and_a_context_of_0_for_nothing() -> None:
    state = fresh()
    state.max_price_in, state.max_price_out, state.min_context = "0", "0", "0"
    query = state._query()
    assert (query["max_price_in"], query["max_price_out"]) == (0, 0)
    assert "min_context" not in query


@pytest.mark.parametrize("name", ["page", "total", "_addressed", "sort", "error"])
async def test_the_browser_can_set_only_the_filters(name: str) -> None:
    state = fresh()
    before = getattr(state, name)
    await CatalogState.set_text.fn(state, name, "7")
    await CatalogState.set_flag.fn(state, name, True)
    assert getattr(state, name) == before


async def test_an_unreachable_api_is_said_on_the_page_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as deaf:  # bound, never listening: connections are refused
        deaf.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SWITCHBOARD_API_URL", f"http://127.0.0.1:{deaf.getsockname()[1]}")
        searched, refreshed = fresh(), fresh()
        await CatalogState.next_page.fn(searched)
        await CatalogState.refresh.fn(refreshed)
    assert (searched.error, refreshed.error) == (UNREACHABLE, UNREACHABLE)
