"""The leak scan can fail: a key planted in a database, a response or a log in any of its leaked forms is found."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from tests.leak_scan import files_under, find_leaks

PLANTED = "sk-planted-in-the-scan-0011223344ABCD"
CLEAN = "sk-never-written-anywhere-5566778899EFGH"


def test_a_key_planted_in_a_database_file_is_found(tmp_path: Path) -> None:
    database = tmp_path / "data" / "events.sqlite3"
    database.parent.mkdir()
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE events (data BLOB)")
    connection.execute("INSERT INTO events VALUES (?)", (f'{{"note": "{PLANTED}"}}'.encode(),))
    connection.commit()
    places = files_under(tmp_path / "data")  # read while the WAL still holds the row
    connection.close()
    assert find_leaks(places, [PLANTED, CLEAN]) == [(str(database) + "-wal", "ABCD")]


def test_every_leaked_form_is_found_and_clean_places_are_not() -> None:
    places = {
        "plain": f"Authorization: Bearer {PLANTED}".encode(),
        "quoted": b"GET /v1/models?key=sk-planted-in-the-scan-0011223344ABCD",
        "base64": b"token=" + base64.b64encode(PLANTED.encode()),
        "hex": PLANTED.encode().hex().encode(),
        "clean": b"a key ending in ABCD was rotated",
    }
    found = {place for place, _ in find_leaks(places, [PLANTED, CLEAN])}
    assert found == {"plain", "quoted", "base64", "hex"}
