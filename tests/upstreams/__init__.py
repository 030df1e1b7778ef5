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
`behaviour` for every request, `script` for the next few, `models`, `reply`, `key`, `retry_after_s`, `delay_s`,
`error_message`; `scenario.requests` records every request, headers included. Behaviours: ok, unauthorized,
not_found, rate_limited, server_error, slow, stall, malformed, broken_stream. A request may choose its own with the
header `x-upstream-behaviour`. For a refused connection, stop a server and use its URLs.

From another process: `python -m tests.upstreams --port 8765 --key K` runs it in the foreground and prints the
URLs; `POST {origin}/_upstream/scenario` with a JSON object of the fields above changes the scenario,
`POST {origin}/_upstream/reset` restores it and `GET {origin}/_upstream/requests` lists what was received.
"""

from tests.upstreams.scenario import BEHAVIOURS, Behaviour, Scenario, count_tokens, reply_pieces
from tests.upstreams.server import UpstreamServer, Urls

__all__ = ["BEHAVIOURS", "Behaviour", "Scenario", "UpstreamServer", "Urls", "count_tokens", "reply_pieces"]
