"""The sessions domain: conversations whose agents each talk to a model through an instance, turn by turn.

The app registers `EVENT_TYPES`, opens the `SessionListView` (an inline view) with the store, builds
`Sessions` from it, and mounts `SessionsController`.
"""

from backend.sessions.controller import SessionsController
from backend.sessions.events import EVENT_TYPES
from backend.sessions.service import Sessions
from backend.sessions.view import SessionListView

__all__ = ["EVENT_TYPES", "SessionListView", "Sessions", "SessionsController"]
