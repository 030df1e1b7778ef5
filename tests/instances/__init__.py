"""Tests of the instances domain: commands, vault, views, connection tests and their routes."""
