"""The local upstream (tests.upstreams) in a process of its own for benchmarks: `python -m bench.upstream --port N`.

uvicorn binds the port itself here, so every connection gets TCP_NODELAY from asyncio. `UpstreamServer` hands
uvicorn a socket it made, which asyncio does not mark TCP, and a kept-alive connection then waits about 40 ms
for the delayed ACK between the head and the body of every answer.
"""

import argparse

import uvicorn

from tests.upstreams.scenario import DEFAULT_KEY, Scenario
from tests.upstreams.server import UpstreamApp


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--key", default=DEFAULT_KEY, help="the API key the upstream accepts")
    parser.add_argument("--model", action="append", help="a model to list (repeat)")
    arguments = parser.parse_args()
    scenario = Scenario(key=arguments.key)
    if arguments.model:
        scenario.models = arguments.model
    app = UpstreamApp(scenario)
    uvicorn.run(app, host="127.0.0.1", port=arguments.port, http="h11", lifespan="off", log_config=None, access_log=False)


if __name__ == "__main__":
    main()
