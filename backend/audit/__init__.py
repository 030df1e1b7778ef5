"""The audit domain: the event log as the API and UI see it, the live feed, and service lifecycle events."""
