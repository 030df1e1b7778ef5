"""Events about the service itself, so the log is never silent about restarts."""

from __future__ import annotations

from events import Event

SERVICE_STREAM = "service"


class ServiceStarted(Event, frozen=True, kw_only=True):
    """The service opened the store and began serving."""

    version: str
    data_dir: str

    def summary(self) -> str:
        return f"Switchboard {self.version} started (data in {self.data_dir})"


EVENT_TYPES = (ServiceStarted,)
