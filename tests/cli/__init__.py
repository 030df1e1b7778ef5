"""Tests of the `switchboard` command, run as a real subprocess."""
