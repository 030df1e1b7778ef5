"""Fixtures for the reliability tests: the local upstream servers that stand in for providers; and the counts the
tests record as their `summary` property, shown at the end of a run even when output is captured."""

import pytest

from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summaries = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        for name, value in getattr(report, "user_properties", [])
        if name == "summary"
    ]
    if summaries:
        terminalreporter.write_sep("-", "reliability counts")
        for summary in summaries:
            terminalreporter.write_line(str(summary))
