"""Local provider servers speaking the real wire protocols, used by tests as real HTTP peers.

One uvicorn server on 127.0.0.1 serves every protocol under a path prefix; point a Connection or an SDK at:

    {origin}/openai/v1  OpenAI, openai-compat: GET /models, POST /chat/completions; Bearer
    {origin}/anthropic  Anthropic: GET /v1/models, POST /v1/messages; x-api-key or Bearer, anthropic-version
    {origin}/gemini     Gemini: GET /v1beta/models, POST /v1beta/models/{m}:streamGenerateContent?alt=sse
                        (and :generateContent; /v1 too); x-goog-api-key or ?key=
    {origin}/azure      Azure OpenAI: GET /openai/models, POST /openai/deployments/{d}/chat/completions;
                        api-key header and ?api-version=
    {origin}/ollama     Ollama: GET /api/tags, POST /api/chat (NDJSON); no auth

In-process: `with UpstreamServer() as server:` (or the `upstream` fixture), then change `server.scenario`:
`behaviour` for every request, `script` for the next few, `models`, `reply`, `thinking`, `key`, `retry_after_s`,
`retry_after_as`, `delay_s`, `keepalive_s`, `error_message`, `pieces_before_fault`, `cache_read_tokens`,
`cache_write_tokens`.
`scenario.requests` records every request, headers included, with the time it came (`received_at`, wall clock);
`scenario.bodies(path_end)` parses their JSON, and
`scenario.reasoning` each chat's reasoning parameter as received (OpenAI/Azure `reasoning_effort`, Anthropic
`thinking`, Gemini `generationConfig.thinkingConfig`, Ollama `think`; None when absent), checked as the service
checks it. Behaviours (scenario.py lists them):
- error answers in each protocol's own error body: unauthorized (401), forbidden (403), not_found (404),
  request_timeout (408), too_large (413), rate_limited (429, with a retry-after of `retry_after_s` seconds, or as
  the HTTP date that far ahead rounded up to a whole second, or none: `retry_after_as` is seconds, http_date or
  absent), server_error (500), bad_gateway (502), unavailable (503), overloaded (529);
- no answer: hang_up (the connection is reset, RST, as soon as the request is read), slow (no answer for delay_s);
- faults in a successful answer, which strike in a stream after `pieces_before_fault` pieces of text (0: before
  the first token) and in a JSON answer after half its body: stall (silent for delay_s), malformed,
  broken_stream (the connection closes), reset (the connection is reset), never_ends (only keep-alives, every
  keepalive_s, until the client goes away: Anthropic's ping events, SSE comments or blank lines elsewhere),
  stream_error (an error inside the stream; a JSON answer: an error body with status 200) and corrupt_gzip (the
  answer says it is gzip-encoded but is not: its body cannot be decoded).
A request may choose its behaviour with the header `x-upstream-behaviour`. `server.open_connections()` counts
the client connections open now.
Chats stream each protocol's usage, cache tokens included where the protocol reports them; asked to reason, they
think first (Anthropic thinking block, Ollama `thinking`, counted as output tokens elsewhere); a token limit
below the reply cuts it with the protocol's own "length" finish reason. For a refused connection, stop a server
and use its URLs.
From another process: `python -m tests.upstreams --port 8765 --key K` runs it in the foreground and prints the
URLs; `POST {origin}/_upstream/scenario` with a JSON object of the fields above changes the scenario,
`POST {origin}/_upstream/reset` restores it, `GET {origin}/_upstream/requests` lists what was received (with each
body parsed as `json`) and `GET {origin}/_upstream/reasoning` the reasoning parameters.
"""

from tests.upstreams.scenario import BEHAVIOURS, Behaviour, Scenario, count_tokens, reply_pieces
from tests.upstreams.server import UpstreamServer, Urls

__all__ = ["BEHAVIOURS", "Behaviour", "Scenario", "UpstreamServer", "Urls", "count_tokens", "reply_pieces"]
