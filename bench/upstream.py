"""The local upstream (tests.upstreams) in a process of its own for benchmarks: `python -m bench.upstream --port N`.

uvicorn binds the port itself here, so every connection gets TCP_NODELAY from asyncio. `UpstreamServer` hands
uvicorn a socket it made, which asyncio does not mark TCP, and a kept-alive connection then waits about 40 ms
for the delayed ACK between the head and the body of every answer.

A benchmark's upstream keeps no record of the requests it answered (the tests' upstream keeps them all, which
over a long load run is memory without end). `--piece-ms` spaces the pieces of a streamed answer, as a model
generating tokens does.
"""

import argparse
import asyncio
from collections.abc import Awaitable, Callable

import uvicorn

from tests.upstreams.asgi import Message, Receive, Request, Scope, Send
from tests.upstreams.scenario import DEFAULT_KEY, Scenario
from tests.upstreams.server import UpstreamApp

KEEP_ALIVE_S = 60
"""Providers keep an idle connection open for a minute or more; uvicorn's 5 s is the same as httpx's keep-alive,
so a client would now and then send a request on a connection the upstream closes at that moment."""


class Unrecorded(list[Request]):
    """A scenario's list of requests that keeps none."""

    def append(self, request: Request) -> None:
        return None


App = Callable[[Scope, Receive, Send], Awaitable[None]]


def paced(app: App, seconds: float) -> App:
    """`app` with a pause before each piece of a streamed body (an answer sent whole is not delayed)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def spaced(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(seconds)
            await send(message)

        await app(scope, receive, spaced)

    return asgi


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--key", default=DEFAULT_KEY, help="the API key the upstream accepts")
    parser.add_argument("--model", action="append", help="a model to list (repeat)")
    parser.add_argument("--piece-ms", type=float, default=0, help="pause before each piece of a streamed answer")
    arguments = parser.parse_args()
    scenario = Scenario(key=arguments.key, requests=Unrecorded())
    if arguments.model:
        scenario.models = arguments.model
    app: App = UpstreamApp(scenario)
    if arguments.piece_ms > 0:
        app = paced(app, arguments.piece_ms / 1000)
    uvicorn.run(
        app, host="127.0.0.1", port=arguments.port, http="h11", lifespan="off", log_config=None, access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


if __name__ == "__main__":
    main()
