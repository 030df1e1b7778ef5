"""Tests of the HTTP face: routes, errors, the live feed."""
