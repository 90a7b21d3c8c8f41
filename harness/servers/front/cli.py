"""`serving-chaos front`: the HTTP fault layer in front of an endpoint, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass

from harness.errors import UsageError
from harness.servers.front.server import start_front
from harness.servers.serve import new_event_loop

__all__ = ["FrontConfig", "add_arguments", "config_from_args", "run"]

_COMMAND = "serving-chaos front"


@dataclass(frozen=True, slots=True)
class FrontConfig:
    """Where the fault layer listens, where it forwards to, and the seed of its dice."""

    upstream: tuple[str, int]
    port: int
    control_port: int
    host: str = "127.0.0.1"
    seed: int = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port clients call; 0 picks one")
    parser.add_argument(
        "--control-port",
        type=int,
        required=True,
        help="port of /health, /metrics and /_chaos/faults; 0 picks one",
    )
    parser.add_argument(
        "--upstream", required=True, metavar="HOST:PORT", help="where calls are forwarded to"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults' dice (default 0)")


def config_from_args(ns: argparse.Namespace) -> FrontConfig:
    """The flags as a FrontConfig; a UsageError that names the bad flag otherwise."""
    for flag, port in (("--port", ns.port), ("--control-port", ns.control_port)):
        if not 0 <= port <= 65535:
            raise UsageError(f"{_COMMAND}: expected {flag} in 0..65535 but got {flag}={port}")
    if ns.port and ns.port == ns.control_port:
        raise UsageError(
            f"{_COMMAND}: expected --port and --control-port to differ but both are {ns.port}"
        )
    return FrontConfig(
        upstream=_host_port(str(ns.upstream)),
        port=ns.port,
        control_port=ns.control_port,
        host=str(ns.host),
        seed=ns.seed,
    )


def run(ns: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then close every connection; 0 when stopped so."""
    config = config_from_args(ns)
    loop = new_event_loop(use_uvloop=True)
    try:
        return loop.run_until_complete(_serve(config))
    finally:
        loop.close()


async def _serve(config: FrontConfig) -> int:
    loop = asyncio.get_running_loop()
    try:
        front = await start_front(
            config.upstream,
            host=config.host,
            port=config.port,
            control_port=config.control_port,
            seed=config.seed,
        )
    except OSError as exc:
        raise UsageError(
            f"{_COMMAND}: cannot listen on {config.host} ports {config.port} and "
            f"{config.control_port} ({exc.strerror or exc})"
        ) from exc
    stop = asyncio.Event()
    handled = []
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                handled.append(signum)
        upstream = f"{config.upstream[0]}:{config.upstream[1]}"
        print(
            f"front: {front.url} -> {upstream}, control at {front.control_url}",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await front.close()
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(
            f"{_COMMAND}: expected --upstream as HOST:PORT with a port in 1..65535 "
            f"but got --upstream={text!r}"
        )
    return host, int(port)
