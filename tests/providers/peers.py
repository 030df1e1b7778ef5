"""Connections from each provider type to its local upstream, and helpers to read a chat stream."""

from collections.abc import AsyncIterator

import msgspec

from backend.providers import ChatChunk, ChatError, ChatMessage, Connection, TextDelta, Usage
from backend.secret import Secret
from tests.upstreams import Urls, count_tokens, reply_pieces
from tests.upstreams.scenario import DEFAULT_KEY, DEFAULT_REPLY

UPSTREAM_OF = {
    "openai": "openai",
    "openai-compat": "openai",
    "openrouter": "openai",
    "vercel": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "azure": "azure",
    "ollama": "ollama",
}
ALL_TYPES = tuple(UPSTREAM_OF)
PROTOCOLS = ("openai", "anthropic", "google", "azure", "ollama")  # one type per protocol module
KEYED = ("openai", "anthropic", "google", "azure")  # their upstreams check the key; Ollama has no auth
MESSAGES = (
    ChatMessage("system", "Answer in one short line."),
    ChatMessage("user", "Say hello to the tests"),
)
PROMPT_TOKENS = count_tokens(*(message.content for message in MESSAGES))
REPLY_TOKENS = len(reply_pieces(DEFAULT_REPLY))


def connection(urls: Urls, provider_type: str, **changes: object) -> Connection:
    """A connection to the type's upstream: the right key, a 2 s timeout and a single attempt unless changed."""
    if isinstance(changes.get("api_key"), str):
        changes["api_key"] = Secret(str(changes["api_key"]))
    base = Connection(
        provider_type,
        getattr(urls, UPSTREAM_OF.get(provider_type, "openai")),
        api_key=Secret(DEFAULT_KEY),
        timeout_ms=2000,
        max_attempts=1,
        backoff_ms=10,
    )
    return msgspec.structs.replace(base, **changes)


async def collect(chunks: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in chunks]


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(chunk.text for chunk in chunks if isinstance(chunk, TextDelta))


def last_error(chunks: list[ChatChunk]) -> ChatError:
    assert isinstance(chunks[-1], ChatError), chunks
    assert not any(isinstance(chunk, ChatError) for chunk in chunks[:-1]), chunks
    return chunks[-1]


def usage_of(chunks: list[ChatChunk]) -> list[Usage]:
    return [chunk for chunk in chunks if isinstance(chunk, Usage)]
