"""Provider wire protocols: list models (the connection test) and stream a chat turn, one module per protocol."""

from backend.providers.contract import (
    REASONING_LEVELS,
    Attempts,
    ChatChunk,
    ChatError,
    ChatMessage,
    ChatStream,
    Connection,
    Finish,
    ListResult,
    Outcome,
    TextDelta,
    Usage,
)
from backend.providers.dispatch import PROTOCOLS, list_models, not_supported_message, stream_chat

__all__ = [
    "PROTOCOLS",
    "REASONING_LEVELS",
    "Attempts",
    "ChatChunk",
    "ChatError",
    "ChatMessage",
    "ChatStream",
    "Connection",
    "Finish",
    "ListResult",
    "Outcome",
    "TextDelta",
    "Usage",
    "list_models",
    "not_supported_message",
    "stream_chat",
]
