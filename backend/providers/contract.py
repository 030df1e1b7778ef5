"""The shapes every provider protocol shares: the connection it is given and what it answers."""

from collections.abc import AsyncGenerator
from typing import Literal

import msgspec

from backend.secret import Secret

Outcome = Literal[
    "ok",
    "auth_failed",
    "not_found",
    "rate_limited",
    "timeout",
    "unreachable",
    "server_error",
    "bad_response",
    "not_supported",
]

Role = Literal["system", "user", "assistant"]


class Connection(msgspec.Struct, frozen=True):
    """What a request needs from an instance: where, how long, how often, which headers and key."""

    provider_type: str
    base_url: str
    api_key: Secret | None = None  # masked in repr; revealed only in the request header and when scrubbing
    timeout_ms: int = 30_000
    max_attempts: int = 3
    backoff_ms: int = 500
    headers: dict[str, str] = {}
    api_version: str | None = None  # Azure only: the api-version query parameter


class ListResult(msgspec.Struct, frozen=True):
    """The answer to a models listing, which is also the connection test."""

    outcome: Outcome
    http_status: int | None
    latency_ms: float
    model_ids: list[str]
    message: str  # scrubbed of every secret


class ChatMessage(msgspec.Struct, frozen=True):
    role: Role
    content: str


class TextDelta(msgspec.Struct, frozen=True, tag="text"):
    """The next piece of the answer's text."""

    text: str


class Usage(msgspec.Struct, frozen=True, tag="usage"):
    """Token counts for the whole turn, sent once near the end when the provider reports them."""

    input_tokens: int
    output_tokens: int


class ChatError(msgspec.Struct, frozen=True, tag="error"):
    """The turn failed; always the last chunk of a stream. The message is scrubbed of secrets."""

    outcome: Outcome
    http_status: int | None
    message: str


ChatChunk = TextDelta | Usage | ChatError
ChatStream = AsyncGenerator[ChatChunk, None]  # close it (aclose) to stop reading early
