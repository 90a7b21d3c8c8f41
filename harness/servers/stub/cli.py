"""Command-line flags of `serving-chaos stub`."""

from __future__ import annotations

import argparse

from harness.servers.stub.config import StubConfig

__all__ = ["add_arguments", "config_from_args"]

_DEFAULTS = StubConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stub's flags; unset flags fall back to StubConfig's defaults."""
    d = _DEFAULTS
    parser.add_argument("--host", help=f"address to bind (default {d.host})")
    parser.add_argument("--port", type=int, help=f"port to bind (default {d.port})")
    parser.add_argument("--name", help=f"service name in responses (default {d.name})")
    parser.add_argument(
        "--n-features", type=int, help=f"floats per feature vector (default {d.n_features})"
    )
    parser.add_argument("--seed", type=int, help=f"seed for features and faults (default {d.seed})")


def config_from_args(ns: argparse.Namespace) -> StubConfig:
    """Build a StubConfig from parsed flags; raises ValueError on out-of-range values."""
    given = {
        field: getattr(ns, field, None) for field in ("host", "port", "name", "n_features", "seed")
    }
    return StubConfig(**{k: v for k, v in given.items() if v is not None})
