"""Switchboard's domain and its HTTP face: catalog, instances, vault, providers, audit."""
