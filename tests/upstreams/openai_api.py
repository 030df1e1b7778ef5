"""OpenAI-style API under /openai/v1: GET /models, POST /chat/completions (SSE or one JSON answer)."""

import time

from tests.upstreams.asgi import SSE, JsonReply, Reply, Request, StreamReply, sse
from tests.upstreams.dialect import Dialect, route
from tests.upstreams.scenario import Answer, Scenario, answer, count_tokens, reply_pieces

ERRORS: dict[int, tuple[str, str, str | None]] = {  # status: usual message, type, code
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
    404: ("The requested resource does not exist.", "invalid_request_error", None),
    408: ("Request timed out.", "timeout", None),
    413: ("Request too large.", "invalid_request_error", "request_too_large"),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
PROMPT_FILTER_CHUNK = {"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": []}
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def error(status: int, message: str | None) -> JsonReply:
    usual, kind, code = ERRORS.get(status, ERRORS[500])
    return JsonReply({"error": {"message": message or usual, "type": kind, "param": None, "code": code}}, status)


def masked(key: str) -> str:
    """How OpenAI echoes a wrong key: its start and end only."""
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


def refuse(request: Request, scenario: Scenario) -> JsonReply | None:
    key = request.bearer()
    if key is None:
        return error(401, MISSING_KEY)
    if key != scenario.key:
        return error(401, f"Incorrect API key provided: {masked(key)}. You can find your API key in your account.")
    return None


def models(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    data = [{"id": model, "object": "model", "created": 1700000000, "owned_by": "local"} for model in scenario.models]
    return JsonReply({"object": "list", "data": data})


def chat(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    body = request.json()
    model = body.get("model", "")
    if model not in scenario.models:
        return error(404, f"The model `{model}` does not exist or you do not have access to it.")
    return chat_answer(body, model, scenario, prompt_filter=False)


def chat_answer(body: dict, model: str, scenario: Scenario, *, prompt_filter: bool) -> Reply:
    """The answer shared with Azure, which also sends its content-filter results first."""
    effort = body.get("reasoning_effort")
    scenario.reasoning.append(effort)
    if effort is not None and effort not in REASONING_EFFORTS:
        message = f"Invalid value: '{effort}'. Supported values are: {', '.join(sorted(REASONING_EFFORTS))}."
        return error(400, message)
    reply = answer(scenario.reply, body.get("max_completion_tokens") or body.get("max_tokens"))
    finish = "length" if reply.cut else "stop"
    usage = _usage(body, reply, scenario)
    if not body.get("stream"):
        return JsonReply(_completion(model, reply.text, usage, finish))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    frames = [sse(PROMPT_FILTER_CHUNK)] if prompt_filter else []
    first_text = len(frames) + 1  # after the role-only delta
    frames += [sse(_chunk(model, delta, ended, include_usage)) for delta, ended in _deltas(reply, finish)]
    if include_usage:
        frames.append(sse({**_chunk(model, None, None, True), "choices": [], "usage": usage}))
    failed = sse(error(500, scenario.error_message).body)
    return StreamReply(frames + [b"data: [DONE]\n\n"], SSE, failed, first_text)


def _deltas(reply: Answer, finish: str) -> list[tuple[dict[str, str], str | None]]:
    pieces = [{"role": "assistant", "content": ""}] + [{"content": piece} for piece in reply.pieces]
    return [(delta, None) for delta in pieces] + [({}, finish)]


def _chunk(model: str, delta: dict[str, str] | None, finish: str | None, include_usage: bool) -> dict:
    chunk: dict = {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_local",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }
    return {**chunk, "usage": None} if include_usage else chunk


def _completion(model: str, text: str, usage: dict, finish: str) -> dict:
    message = {"role": "assistant", "content": text, "refusal": None}
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


def _usage(body: dict, reply: Answer, scenario: Scenario) -> dict:
    """prompt_tokens counts the whole prompt, cached tokens included; no cache writes are reported. Reasoning is
    not streamed, only counted: completion_tokens includes its reasoning_tokens."""
    prompt = count_tokens(*(str(message.get("content", "")) for message in body.get("messages", [])))
    reasoning = len(reply_pieces(scenario.thinking)) if body.get("reasoning_effort") not in (None, "none") else 0
    completion = reasoning + len(reply.pieces)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": scenario.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


DIALECT = Dialect(
    "/openai/v1",
    (route("GET", "/models", models), route("POST", "/chat/completions", chat)),
    refuse,
    error,
)
