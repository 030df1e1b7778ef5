"""Tests of the provider protocols against the local upstreams."""
