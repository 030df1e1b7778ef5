"""Tests of the event store: the conformance suite, the SQLite backend, and the registry."""
