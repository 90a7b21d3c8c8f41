"""The HTTP fault layer in front of the endpoint: forwards client calls and applies HTTP faults."""

from harness.servers.front.cli import FrontConfig, add_arguments, config_from_args, run
from harness.servers.front.counters import FrontCounters, FrontMetrics
from harness.servers.front.server import Front, serve_front, start_front

__all__ = [
    "Front",
    "FrontConfig",
    "FrontCounters",
    "FrontMetrics",
    "add_arguments",
    "config_from_args",
    "run",
    "serve_front",
    "start_front",
]
