"""Command-line flags of `serving-chaos stub`."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UsageError
from harness.servers.stub.config import StubConfig
from harness.servers.stub.spec import KINDS, FeaturesSpec, StubSpec, StubSpecError, read_stub_spec

__all__ = ["add_arguments", "config_from_args", "run", "spec_from_args"]

_DEFAULTS = StubConfig()
_DEFAULT_SPEC = FeaturesSpec()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the stub's flags; unset flags fall back to StubConfig's and FeaturesSpec's defaults."""
    d = _DEFAULTS
    parser.add_argument("--host", help=f"address to bind (default {d.host})")
    parser.add_argument("--port", type=int, help=f"port to bind (default {d.port})")
    parser.add_argument("--name", help=f"service name in /health answers (default {d.name})")
    parser.add_argument(
        "--seed", type=int, help=f"seed for faults, latencies and features (default {d.seed})"
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        help="what the stub serves (default features); any kind but features needs --spec",
    )
    parser.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="JSON or YAML file holding the stub's spec ({kind: ..., ...}); "
        "PUT /_chaos/spec replaces it while the stub runs",
    )
    parser.add_argument(
        "--n-features",
        type=int,
        help=f"floats per feature vector, features kind (default {_DEFAULT_SPEC.n_features})",
    )


def config_from_args(ns: argparse.Namespace) -> StubConfig:
    """Build a StubConfig from parsed flags; raises ValueError on out-of-range values."""
    given = {field: getattr(ns, field, None) for field in ("host", "port", "name", "seed")}
    return StubConfig(**{k: v for k, v in given.items() if v is not None})


def spec_from_args(ns: argparse.Namespace) -> StubSpec:
    """The spec the flags ask for: the file of ``--spec``, else the feature store (seeded by
    ``--seed``). UsageError saying which flag is wrong otherwise."""
    kind = getattr(ns, "kind", None)
    file = getattr(ns, "spec", None)
    n_features = getattr(ns, "n_features", None)
    seed = getattr(ns, "seed", None)
    if file is None:
        if kind not in (None, "features"):
            raise UsageError(f"serving-chaos stub: --kind {kind} needs --spec FILE")
        try:
            return FeaturesSpec(
                n_features=_DEFAULT_SPEC.n_features if n_features is None else n_features,
                seed=_DEFAULT_SPEC.seed if seed is None else seed,
            )
        except StubSpecError as exc:
            raise UsageError(f"serving-chaos stub: --n-features: {exc}") from exc
    if n_features is not None:
        raise UsageError(
            "serving-chaos stub: --n-features goes with the default features kind; "
            "with --spec, write n_features in the spec"
        )
    try:
        spec = read_stub_spec(file)
    except StubSpecError as exc:
        raise UsageError(f"serving-chaos stub: --spec {exc.located()}") from exc
    if kind is not None and kind != spec.kind:
        raise UsageError(
            f"serving-chaos stub: --kind {kind} but {file} holds a spec of kind {spec.kind}"
        )
    return spec


def run(ns: argparse.Namespace) -> int:
    """`serving-chaos stub`: serve until SIGINT or SIGTERM; 0 when it stopped cleanly."""
    from harness.servers.stub.app import serve

    try:
        config = config_from_args(ns)
    except ValueError as exc:
        raise UsageError(f"serving-chaos stub: {exc}") from exc
    serve(config, spec_from_args(ns))
    return 0
