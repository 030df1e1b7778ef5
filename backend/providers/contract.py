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
# The reasoning levels the catalog uses; each protocol sends them in its own parameter (see its module).
REASONING_LEVELS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


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
    """Token counts for the whole turn as the provider reported them, sent once at the end of a full answer.

    `input_tokens` keeps each protocol's own meaning, so it may or may not include the cached tokens:
    - OpenAI, Azure and the OpenAI-compatible types: `prompt_tokens`, which INCLUDES the cached tokens;
      `cache_read_tokens` is `prompt_tokens_details.cached_tokens`; no cache writes are reported (always 0).
    - Anthropic: `input_tokens`, which EXCLUDES both cache reads and writes (the whole prompt is the sum of the
      three); `cache_read_tokens` is `cache_read_input_tokens`, `cache_write_tokens` is
      `cache_creation_input_tokens`.
    - Gemini: `promptTokenCount`, which INCLUDES `cachedContentTokenCount` (= `cache_read_tokens`); no cache
      writes are reported (always 0).
    - Ollama: `prompt_eval_count` (the prompt tokens it evaluated); it reports no cache figures (both 0).
    `output_tokens` includes reasoning tokens wherever the provider bills them as output (Gemini's
    `thoughtsTokenCount` is added to `candidatesTokenCount`).
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class Finish(msgspec.Struct, frozen=True, tag="finish"):
    """Why the answer ended, sent once before the usage. `reason` uses OpenAI's words where the provider's
    reason has one ("stop", "length", "content_filter", "tool_calls"); other reasons pass through lower-cased."""

    reason: str


class Attempts(msgspec.Struct, frozen=True, tag="attempts"):
    """How many requests this turn took (retries included), sent once: just before the first text, or before
    the final chunk when no text came. No request is ever sent again after it."""

    count: int


class ChatError(msgspec.Struct, frozen=True, tag="error"):
    """The turn failed; always the last chunk of a stream. The message is scrubbed of secrets."""

    outcome: Outcome
    http_status: int | None
    message: str


ChatChunk = Attempts | TextDelta | Finish | Usage | ChatError
ChatStream = AsyncGenerator[ChatChunk, None]  # close it (aclose) to stop reading early
