"""Feature-store stub: deterministic features per key, metrics, and switchable HTTP faults."""

from harness.stub.app import make_app, serve
from harness.stub.cli import add_arguments, config_from_args
from harness.stub.config import StubConfig
from harness.stub.faults import HttpFault
from harness.stub.features import features_for

__all__ = [
    "HttpFault",
    "StubConfig",
    "add_arguments",
    "config_from_args",
    "features_for",
    "make_app",
    "serve",
]
