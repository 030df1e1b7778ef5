"""Tests for authentication, tokens, roles and the permissions table."""
