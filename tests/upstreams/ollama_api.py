"""Ollama's native API under /ollama: GET /api/tags and POST /api/chat (NDJSON stream); no auth."""

from datetime import UTC, datetime

from tests.upstreams.asgi import NDJSON, JsonReply, Reply, Request, StreamReply, ndjson
from tests.upstreams.dialect import Dialect, route
from tests.upstreams.scenario import Scenario, answer, count_tokens, reply_pieces

USUAL_MESSAGES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    413: "request entity too large",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "server busy, please try again. maximum pending requests exceeded",
}


def error(status: int, message: str | None) -> JsonReply:
    return JsonReply({"error": message or USUAL_MESSAGES.get(status, "error")}, status)


def refuse(request: Request, scenario: Scenario) -> JsonReply | None:
    return None


def tags(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1B",
        "quantization_level": "Q4_K_M",
    }
    data = [
        {
            "name": model,
            "model": model,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 1_000_000,
            "digest": "0" * 64,
            "details": details,
        }
        for model in scenario.models
    ]
    return JsonReply({"models": data})


def chat(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    body = request.json()
    model = body.get("model", "")
    if model not in scenario.models and f"{model}:latest" not in scenario.models:
        return error(404, f'model "{model}" not found, try pulling it first')
    think = body.get("think")
    scenario.reasoning.append(think)
    if think is not None and not isinstance(think, bool) and think not in ("low", "medium", "high"):
        return error(400, f"invalid think value: {think!r}")
    thoughts = reply_pieces(scenario.thinking) if think not in (None, False) else []
    reply = answer(scenario.reply, (body.get("options") or {}).get("num_predict"))
    pieces = reply.pieces
    lines = [ndjson(_line(model, "", thinking=piece)) for piece in thoughts]
    lines += [ndjson(_line(model, piece)) for piece in pieces]
    prompt = count_tokens(*(str(message.get("content", "")) for message in body.get("messages", [])))
    final = {
        **_line(model, ""),
        "done_reason": "length" if reply.cut else "stop",
        "done": True,
        "total_duration": 1_000_000,
        "load_duration": 1_000,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 1_000,
        "eval_count": len(thoughts) + len(pieces),
        "eval_duration": 1_000,
    }
    if body.get("stream") is False:
        message = {"role": "assistant", "content": reply.text, **({"thinking": scenario.thinking} if thoughts else {})}
        return JsonReply({**final, "message": message})
    failed = {"error": scenario.error_message or "an error was encountered while running the model"}
    return StreamReply(lines + [ndjson(final)], NDJSON, ndjson(failed), first_text=len(thoughts))


def _line(model: str, content: str, thinking: str = "") -> dict:
    """One streamed line; while the model thinks, its thinking comes beside an empty content."""
    message = {"role": "assistant", "content": content, **({"thinking": thinking} if thinking else {})}
    return {"model": model, "created_at": datetime.now(UTC).isoformat(), "message": message, "done": False}


DIALECT = Dialect("/ollama", (route("GET", "/api/tags", tags), route("POST", "/api/chat", chat)), refuse, error)
