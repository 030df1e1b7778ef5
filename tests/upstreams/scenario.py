"""What an upstream does next: the key it accepts, its models and reply, faults to play, requests it saw."""

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from tests.upstreams.asgi import Fault, Request

Behaviour = Literal[
    "ok",
    # Error answers, in the protocol's own error body (ERROR_STATUS has each status):
    "unauthorized",  # 401 (or the protocol's own auth refusal) whatever the key
    "forbidden",  # 403
    "not_found",  # 404
    "request_timeout",  # 408
    "too_large",  # 413
    "rate_limited",  # 429, with a retry-after as `retry_after_as` says
    "server_error",  # 500
    "bad_gateway",  # 502
    "unavailable",  # 503
    "overloaded",  # 529, Anthropic's overloaded_error
    # No answer:
    "hang_up",  # reset the connection (RST) as soon as the request is read: not even a status line
    "slow",  # wait delay_s before answering at all
    # Faults in a successful answer. Streams: after `pieces_before_fault` pieces of text (0: before the first
    # token); a JSON answer (a model list): after half its body.
    "stall",  # wait delay_s, then go on
    "malformed",  # a garbage stream event (a JSON answer: a body that is not valid JSON)
    "broken_stream",  # close the connection (a JSON answer: in the middle of the body)
    "reset",  # reset the connection (RST) instead of closing it
    "never_ends",  # send keep-alives only (Anthropic: its ping events; others: SSE comments, blank lines), every
    # keepalive_s, until the client goes away: the body never ends
    "corrupt_gzip",  # say the answer is gzip-encoded but send it as it is: its body cannot be decoded
    "stream_error",  # report an error inside the stream in the protocol's own way (a JSON answer: an error body
    # with status 200)
]
BEHAVIOURS: tuple[Behaviour, ...] = get_args(Behaviour)
BEHAVIOUR_HEADER = "x-upstream-behaviour"  # per-request choice, e.g. set as an instance's extra header
ERROR_STATUS: dict[Behaviour, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "request_timeout": 408,
    "too_large": 413,
    "rate_limited": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "unavailable": 503,
    "overloaded": 529,
}
FAULTS: dict[Behaviour, Fault] = {
    "malformed": "malformed",
    "broken_stream": "broken_stream",
    "reset": "reset",
    "stall": "stall",
    "never_ends": "never_ends",
    "stream_error": "stream_error",
    "corrupt_gzip": "corrupt_gzip",
}
# how a 429 says when to come back; "http_date_no_zone": an HTTP date ending "-0000" (RFC 5322's "zone unknown")
RetryAfter = Literal["seconds", "http_date", "http_date_no_zone", "absent"]
DEFAULT_KEY = "test-key"
DEFAULT_MODELS = ("local-small", "local-large")
DEFAULT_REPLY = "Hello from the local upstream."
DEFAULT_THINKING = "The tests want a greeting."


@dataclass
class Scenario:
    """Mutable by the test (or over HTTP at /_upstream/scenario); one per server, shared by all protocols."""

    key: str = DEFAULT_KEY
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    reply: str = DEFAULT_REPLY
    thinking: str = DEFAULT_THINKING  # reasoned before the reply when a request asks for reasoning
    behaviour: Behaviour = "ok"
    script: list[Behaviour] = field(default_factory=list)  # played one per request before `behaviour`
    retry_after_s: float = 0.2
    retry_after_as: RetryAfter = "seconds"  # an HTTP date is rounded up to the next whole second
    delay_s: float = 1.0
    keepalive_s: float = 0.05  # how often a body that never ends sends a keep-alive
    error_message: str | None = None  # replaces the service's usual error text, in answers and in streams
    pieces_before_fault: int = 1  # how many text pieces a stream sends before its fault strikes
    cache_read_tokens: int = 0  # reported as read from the prompt cache, where the protocol reports it
    cache_write_tokens: int = 0  # reported as written to the prompt cache (Anthropic only)
    requests: list[Request] = field(default_factory=list)
    reasoning: list[object] = field(default_factory=list)  # each chat's reasoning parameter as received, or None
    resets: int = 0  # how many times it was reset: a request still waiting from before must not touch it

    def next_behaviour(self, request: Request) -> Behaviour:
        chosen = request.headers.get(BEHAVIOUR_HEADER)
        for behaviour in BEHAVIOURS:
            if behaviour == chosen:
                return behaviour
        return self.script.pop(0) if self.script else self.behaviour

    def reset(self) -> None:
        fresh = Scenario(resets=self.resets + 1)
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def saw(self, text: str) -> bool:
        """True when `text` came in any request: its path, query, headers or body."""
        return any(
            text in request.path
            or any(text in value for value in (*request.query.values(), *request.headers.values()))
            or text.encode() in request.body
            for request in self.requests
        )

    def requests_to(self, path_end: str) -> list[Request]:
        return [request for request in self.requests if request.path.endswith(path_end)]

    def bodies(self, path_end: str = "") -> list[object]:
        """The JSON bodies of the requests whose path ends with `path_end`, parsed."""
        return [request.parsed() for request in self.requests_to(path_end)]


@dataclass(frozen=True)
class Answer:
    """The reply as far as the request's token limit lets it go, one token per piece."""

    pieces: list[str]
    cut: bool  # the limit stopped it: the protocol reports its own "length" finish reason

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def answer(reply: str, limit: object) -> Answer:
    """`limit` is the request's output token limit as sent (anything but a positive int means none)."""
    pieces = reply_pieces(reply)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(pieces):
        return Answer(pieces[:limit], cut=True)
    return Answer(pieces, cut=False)


def reply_pieces(text: str) -> list[str]:
    """The reply cut into word-sized stream pieces that join back to the whole text."""
    return re.findall(r"\s*\S+\s*?(?=\s|$)", text) or [text]


def count_tokens(*texts: str) -> int:
    """The upstreams' token count: one per whitespace-separated word."""
    return sum(len(text.split()) for text in texts)
