"""Counts read as people write them: "1 session", "2 sessions", never "session(s)", in every summary and message."""

from __future__ import annotations

import pytest

from backend.audit.events import VaultRekeyed, VaultUpgraded
from backend.catalog.catwalk import cache_note
from backend.wording import plural


@pytest.mark.parametrize(
    ("count", "words"), [(0, "0 models"), (1, "1 model"), (2, "2 models"), (1534, "1,534 models")]
)
def test_plural(count: int, words: str) -> None:
    assert plural(count, "model") == words


def test_vault_summaries_count_files_in_words() -> None:
    upgraded = VaultUpgraded(count=1, from_format=1, to_format=2).summary()
    rekeyed = VaultRekeyed(count=3, unreadable=0, key_id="k2", previous_key_id="k1").summary()
    assert "1 credential file re-encrypted" in upgraded and "3 credential files moved" in rekeyed
    assert "(s)" not in upgraded + rekeyed


def test_the_cache_note_counts_models_in_words() -> None:
    assert "for 2 models (a, b)" in cache_note(["a", "b"])


def test_the_frontend_uses_the_backend_plural() -> None:
    from frontend import words

    assert words.plural is plural
