"""Feature-store stub: deterministic features per key, metrics, and switchable HTTP faults."""

from harness.servers.stub.app import make_app, serve
from harness.servers.stub.cli import add_arguments, config_from_args
from harness.servers.stub.config import StubConfig
from harness.servers.stub.features import features_for
from harness.servers.stub.switch import HttpFault

__all__ = [
    "HttpFault",
    "StubConfig",
    "add_arguments",
    "config_from_args",
    "features_for",
    "make_app",
    "serve",
]
