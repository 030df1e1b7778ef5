"""Unit tests of the web app's helpers that need no browser."""
