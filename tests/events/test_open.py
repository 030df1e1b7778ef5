"""Which backend a location opens, and how a database URL is shown: never with its password."""

from __future__ import annotations

import pytest

from events.open import is_database_url, shown_location


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://sb:hunter2@db:5432/log", "postgresql://sb:***@db:5432/log"),
        ("postgresql://sb@db/log?password=hunter2&search_path=a", "postgresql://sb@db/log?password=***&search_path=a"),
        ("postgres://db/log?sslpassword=hunter2", "postgres://db/log?sslpassword=***"),
        ("postgresql://sb@db/log?search_path=a", "postgresql://sb@db/log?search_path=a"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert shown_location(url) == shown
    assert "hunter2" not in shown_location(url)


def test_only_postgresql_urls_name_a_database() -> None:
    assert is_database_url("postgresql://db/log") and is_database_url("postgres://db/log")
    assert not is_database_url("postgresq://u:pw@db/log") and not is_database_url("data/events.sqlite3")
