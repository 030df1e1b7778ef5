"""`switchboard audit query|export` beside a running server: each filter answers the events the API answers, the
export is the API's export byte for byte (NDJSON and CSV, stdout or a file), bad arguments are one line and exit 2,
and the export's progress bar shows on a terminal only."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
from pathlib import Path

import httpx
import pytest

from backend.audit.export import CSV_COLUMNS
from backend.settings import Settings
from tests.audit_query.conftest import Seeded, api, seeded, settings
from tests.cli.test_cli import SWITCHBOARD
from tests.cli.test_commands import cli, cli_env, ok_json, table
from tests.cli.test_verify import _read_terminal

__all__ = ["api", "seeded", "settings"]

QUERY = "/api/v1/audit/events"
EXPORT = "/api/v1/audit/export"
Params = dict[str, str | int | list[str]]

FILTERS: list[tuple[list[str], Params]] = [
    ([], {}),
    (["--stream", "instance-alpha"], {"stream": "instance-alpha"}),
    (["--stream", "instance-"], {"stream": "instance-"}),
    (["--type", "VaultUpgraded", "--type", "VaultRekeyed"], {"type": ["VaultUpgraded", "VaultRekeyed"]}),
    (["--actor", "bob"], {"actor": "bob"}),
    (["--instance", "alpha"], {"instance": "alpha"}),
    (["--session", "s1"], {"session": "s1"}),
    (["--q", "amber"], {"q": "amber"}),
    (["--after", "2", "--before", "6"], {"after": 2, "before": 6}),
    (["--after", "3", "--limit", "2", "--order", "oldest"], {"after": 3, "limit": 2, "order": "oldest"}),
    (["--before", "6", "--limit", "2"], {"before": 6, "limit": 2}),
    (["--stream", "instance-", "--actor", "alice", "--order", "oldest"],
     {"stream": "instance-", "actor": "alice", "order": "oldest"}),
]


def answered(api: httpx.Client, route: str, params: Params) -> httpx.Response:
    answer = api.get(route, params=params)
    assert answer.status_code == 200, answer.text
    return answer


@pytest.mark.parametrize(("args", "params"), FILTERS)
def test_each_filter_queries_the_events_the_api_answers(
    api: httpx.Client, settings: Settings, args: list[str], params: Params
) -> None:
    expected = answered(api, QUERY, params).json()
    printed = ok_json(cli(settings, "audit", "query", *args, "--json"))
    assert isinstance(printed, dict)
    assert printed["events"] == expected["events"] and printed["head"] == expected["head"]
    assert (printed["next"] is None) == (expected["next"] is None)


def test_time_window_queries_the_events_the_api_answers(api: httpx.Client, settings: Settings, seeded: Seeded) -> None:
    middle = seeded.middle.isoformat()
    for window in ({"since": middle}, {"until": middle}, {"since": middle, "until": middle}):
        args = [part for name, value in window.items() for part in (f"--{name}", value)]
        printed = ok_json(cli(settings, "audit", "query", *args, "--json"))
        assert printed["events"] == answered(api, QUERY, dict(window)).json()["events"]  # type: ignore[index]


def test_next_cursor_walks_the_query_like_the_api_link(api: httpx.Client, settings: Settings, seeded: Seeded) -> None:
    everything = [event["position"] for event in answered(api, QUERY, {"stream": "instance-"}).json()["events"]]
    walked: list[int] = []
    cursor: list[str] = []
    while True:
        page = ok_json(cli(settings, "audit", "query", "--stream", "instance-", "--limit", "2", *cursor, "--json"))
        assert isinstance(page, dict)
        walked += [event["position"] for event in page["events"]]
        if page["next"] is None:
            break
        cursor = ["--before", str(page["next"]["before"])]
    assert walked == everything and len(everything) == 4


def test_query_prints_a_table_by_default(api: httpx.Client, settings: Settings, seeded: Seeded) -> None:
    expected = answered(api, QUERY, {"actor": "alice", "order": "oldest"}).json()["events"]
    result = cli(settings, "audit", "query", "--actor", "alice", "--order", "oldest")
    rows = table(result)
    assert rows[0] == ["POSITION", "RECORDED", "AT", "STREAM", "TYPE", "ACTOR", "SUMMARY"]
    assert [int(row[0]) for row in rows[1:]] == [event["position"] for event in expected]
    assert [row[3:5] for row in rows[1:]] == [[event["type"], "alice"] for event in expected]
    lines = result.stdout.splitlines()[1:]
    assert all(line.endswith(event["summary"]) for line, event in zip(lines, expected, strict=True))


@pytest.mark.parametrize(("args", "params"), FILTERS[:9])
def test_ndjson_export_to_stdout_is_the_api_export(
    api: httpx.Client, settings: Settings, args: list[str], params: Params
) -> None:
    expected = answered(api, EXPORT, {**params, "format": "ndjson"}).text
    exported = cli(settings, "audit", "export", *args)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == expected and exported.stderr == ""  # piped: no progress bar


def test_csv_export_to_a_file_is_the_api_export(api: httpx.Client, settings: Settings, tmp_path: Path) -> None:
    params: Params = {"stream": "session-", "order": "newest", "format": "csv"}
    expected = answered(api, EXPORT, params).content
    target = tmp_path / "audit.csv"
    done = cli(settings, "audit", "export", "--stream", "session-", "--order", "newest", "--format", "csv",
               "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == expected and done.stderr == ""
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS and [int(row["position"]) for row in rows] == [8, 5, 3]
    assert done.stdout.strip() == f"exported 3 events to {target}"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["query", "--limit", "0"], "--limit"),
        (["query", "--limit", "501"], "--limit"),
        (["query", "--after", "-1"], "--after"),
        (["query", "--before", "x"], "--before"),
        (["query", "--since", "2026-01-01T00:00:00"], "UTC offset"),
        (["query", "--until", "yesterday"], "RFC 3339"),
        (["query", "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"], "until"),
        (["query", "--after", "5", "--before", "5"], "before"),
        (["query", "--order", "sideways"], "--order"),
        (["query", "--q", "   "], "q"),
        (["query", "--stream", ""], "stream"),
        (["query", "--type", "ServiceStarted", "--type", " "], "type"),
        (["export", "--format", "xml"], "--format"),
        (["export", "--limit", "5"], "--limit"),
        (["export", "--output", "/nonexistent/folder/audit.ndjson"], "/nonexistent/folder/audit.ndjson"),
        (["stream"], "query"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    api: httpx.Client, settings: Settings, args: list[str], complaint: str
) -> None:
    refused = cli(settings, "audit", *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and complaint in refused.stderr and refused.stdout == ""


def test_export_shows_a_progress_bar_on_a_terminal_only(api: httpx.Client, settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "audit.ndjson"
    env = cli_env(settings)
    controller, terminal = pty.openpty()
    command = [SWITCHBOARD, "audit", "export", "--output", str(target)]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=terminal) as process:
        os.close(terminal)
        shown = b""
        while chunk := _read_terminal(controller):
            shown += chunk
        assert process.wait(timeout=60) == 0
    os.close(controller)
    count = len(target.read_text().splitlines())
    assert b"exporting [" in shown and f"{count:,}/{count:,}".encode() in shown
    assert [json.loads(line) for line in target.read_text().splitlines()] == [
        json.loads(line) for line in answered(api, EXPORT, {}).text.splitlines()
    ]
