"""External-API stubs (feature store, routes, replay, recording proxy) and `record`."""

from harness.servers.stub.app import make_app, serve
from harness.servers.stub.cli import add_arguments, config_from_args, run, spec_from_args
from harness.servers.stub.config import StubConfig
from harness.servers.stub.features import features_for
from harness.servers.stub.recording import Exchange, read_recording, write_recording
from harness.servers.stub.spec import (
    FeaturesSpec,
    ProxySpec,
    ReplaySpec,
    RoutesSpec,
    StubSpec,
    StubSpecError,
    read_stub_spec,
    stub_spec_from_json,
    stub_spec_to_json,
)

__all__ = [
    "Exchange",
    "FeaturesSpec",
    "ProxySpec",
    "ReplaySpec",
    "RoutesSpec",
    "StubConfig",
    "StubSpec",
    "StubSpecError",
    "add_arguments",
    "config_from_args",
    "features_for",
    "make_app",
    "read_recording",
    "read_stub_spec",
    "run",
    "serve",
    "spec_from_args",
    "stub_spec_from_json",
    "stub_spec_to_json",
    "write_recording",
]
