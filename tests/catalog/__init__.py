"""Tests of the catalog: seed conversion and loading, rules, search, events, REST routes, refresh."""
