"""Switchboard's test suite: it mirrors the layers; tests/e2e holds the browser tests."""
