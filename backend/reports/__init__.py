"""Reports over the log: what the turns cost, grouped the way people ask (by instance, model, day, ...).

The app mounts `ReportsController`; the figures come from the sessions' views and their pricing rules.
"""

from backend.reports.controller import ReportsController

__all__ = ["ReportsController"]
