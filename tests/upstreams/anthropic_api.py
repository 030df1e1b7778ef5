"""Anthropic Messages API under /anthropic: GET /v1/models, POST /v1/messages (typed SSE events)."""

from tests.upstreams.asgi import SSE, JsonReply, Reply, Request, StreamReply, sse
from tests.upstreams.dialect import Dialect, route
from tests.upstreams.scenario import Scenario, answer, count_tokens, reply_pieces

SIGNATURE = "c2lnbmVkIGxvY2FsbHk="  # thinking blocks come signed
ERRORS: dict[int, tuple[str, str]] = {  # status: type, usual message
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error(status: int, message: str | None) -> JsonReply:
    kind, usual = ERRORS.get(status, ERRORS[500])
    body = {"type": "error", "error": {"type": kind, "message": message or usual}, "request_id": "req_local"}
    return JsonReply(body, status)


def refuse(request: Request, scenario: Scenario) -> JsonReply | None:
    key = request.headers.get("x-api-key") or request.bearer()
    if key is None:
        return error(401, "x-api-key header is required")
    if key != scenario.key:
        return error(401, "invalid x-api-key")
    if "anthropic-version" not in request.headers:
        return error(400, "anthropic-version: header is required")
    return None


def models(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    data = [
        {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"}
        for model in scenario.models
    ]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return JsonReply({"data": data, "has_more": False, "first_id": first, "last_id": last})


def messages(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    body = request.json()
    model = body.get("model", "")
    if "max_tokens" not in body:
        return error(400, "max_tokens: Field required")
    if model not in scenario.models:
        return error(404, f"model: {model}")
    thinking = body.get("thinking")
    scenario.reasoning.append(thinking)
    refusal = _thinking_refusal(thinking, body["max_tokens"])
    if refusal is not None:
        return error(400, refusal)
    prompt = count_tokens(_text(body.get("system", "")), *(_text(m.get("content")) for m in body["messages"]))
    thoughts = reply_pieces(scenario.thinking) if (thinking or {}).get("type") == "enabled" else []
    reply = answer(scenario.reply, body["max_tokens"] - len(thoughts))
    pieces, stop = reply.pieces, "max_tokens" if reply.cut else "end_turn"
    usage = _usage(prompt, len(thoughts) + len(pieces), scenario)
    if not body.get("stream"):
        blocks = [{"type": "thinking", "thinking": scenario.thinking, "signature": SIGNATURE}] if thoughts else []
        return JsonReply(_message(model, [*blocks, {"type": "text", "text": reply.text}], usage, stop))
    text_block = 1 if thoughts else 0
    head = [
        _event({"type": "message_start", "message": _message(model, [], _usage(prompt, 1, scenario), stop=None)}),
        *_thinking_block(thoughts),
        _event({"type": "content_block_start", "index": text_block, "content_block": {"type": "text", "text": ""}}),
        _event({"type": "ping"}),
    ]
    frames = [
        *head,
        *(
            _event({"type": "content_block_delta", "index": text_block, "delta": {"type": "text_delta", "text": piece}})
            for piece in pieces
        ),
        _event({"type": "content_block_stop", "index": text_block}),
        _event({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}),
        _event({"type": "message_stop"}),
    ]
    overloaded = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": scenario.error_message or "Overloaded"},
    }
    return StreamReply(frames, SSE, _event(overloaded), first_text=len(head), keep_alive=_event({"type": "ping"}))


def _thinking_block(thoughts: list[str]) -> list[bytes]:
    """Block 0 when thinking is on: its thinking deltas, then its signature (the answer is block 1)."""
    if not thoughts:
        return []
    deltas = [{"type": "thinking_delta", "thinking": piece} for piece in thoughts]
    return [
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        *(_event({"type": "content_block_delta", "index": 0, "delta": delta}) for delta in deltas),
        _event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}
        ),
        _event({"type": "content_block_stop", "index": 0}),
    ]


def _event(data: dict) -> bytes:
    return sse(data, event=data["type"])


def _thinking_refusal(thinking: object, max_tokens: int) -> str | None:
    """The API's checks on `thinking`: enabled needs a budget of at least 1,024, below max_tokens."""
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
        return "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'"
    budget = thinking.get("budget_tokens")
    if thinking["type"] != "enabled":
        return None
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= max_tokens:
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    return None


def _usage(prompt: int, output_tokens: int, scenario: Scenario) -> dict:
    """input_tokens leaves out the cache reads and writes: the three add up to the whole prompt."""
    cached = scenario.cache_read_tokens + scenario.cache_write_tokens
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": scenario.cache_write_tokens,
        "cache_read_input_tokens": scenario.cache_read_tokens,
        "output_tokens": output_tokens,
    }


def _message(model: str, content: list, usage: dict, stop: str | None) -> dict:
    return {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _text(content: object) -> str:
    """A system or message content: a string, or a list of blocks of which text blocks count."""
    if isinstance(content, list):
        return " ".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content or "")


DIALECT = Dialect(
    "/anthropic",
    (route("GET", "/v1/models", models), route("POST", "/v1/messages", messages)),
    refuse,
    error,
)
