"""Run the local upstreams in the foreground: `python -m tests.upstreams --port N --key K`."""

import argparse

from tests.upstreams.scenario import DEFAULT_KEY, Scenario
from tests.upstreams.server import UpstreamServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.upstreams", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--key", default=DEFAULT_KEY, help="the API key the upstreams accept")
    parser.add_argument("--model", action="append", help="a model to list (repeat); default: two local models")
    arguments = parser.parse_args()
    scenario = Scenario(key=arguments.key)
    if arguments.model:
        scenario.models = arguments.model
    server = UpstreamServer(scenario, port=arguments.port)
    for name, url in vars(server.urls).items():
        print(f"{name} {url}", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
