"""Switchboard's web app: Reflex pages that talk to the public HTTP and websocket API."""
