"""Command-line flags of `serving-chaos endpoint`."""

from __future__ import annotations

import argparse

from harness.endpoint.config import EndpointConfig

_DEFAULTS = EndpointConfig()
# flag dest -> config field, for flags whose names differ from the field they set.
_RENAMED = {"retry_after": "retry_after_s", "upstream_timeout": "upstream_timeout_s"}
_FIELDS = (
    "host",
    "port",
    "name",
    "feature_store_url",
    "concurrency",
    "max_queue",
    "overflow_status",
    "retry_after",
    "service_time_ms",
    "per_record_ms",
    "upstream_timeout",
    "max_payload_bytes",
    "seed",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the endpoint's flags; unset flags fall back to EndpointConfig's defaults."""
    d = _DEFAULTS
    add = parser.add_argument
    add("--host", help=f"address to bind (default {d.host})")
    add("--port", type=int, help=f"port to bind (default {d.port})")
    add("--name", help=f"endpoint name in /serving-endpoints/NAME/invocations (default {d.name})")
    add("--feature-store-url", help="base URL of the feature store; empty skips lookups")
    add("--concurrency", type=int, help=f"provisioned units (default {d.concurrency})")
    add("--max-queue", type=int, help="requests allowed to wait (default 10 x concurrency)")
    add(
        "--overflow-status",
        type=int,
        choices=(429, 503),
        help=f"status when the queue is full (default {d.overflow_status})",
    )
    add("--retry-after", type=int, help=f"Retry-After seconds (default {d.retry_after_s})")
    add("--service-time-ms", type=float, help="busy time per request (default 0)")
    add("--per-record-ms", type=float, help="extra busy time per record (default 0)")
    add(
        "--upstream-timeout",
        type=float,
        help=f"seconds per feature-store call (default {d.upstream_timeout_s})",
    )
    add(
        "--max-payload-bytes",
        type=int,
        help=f"largest request body accepted (default {d.max_payload_bytes})",
    )
    add("--seed", type=int, help=f"seed of the model's weights (default {d.seed})")


def config_from_args(ns: argparse.Namespace) -> EndpointConfig:
    """Build an EndpointConfig from parsed flags; raises ValueError on out-of-range values."""
    given = {_RENAMED.get(dest, dest): getattr(ns, dest, None) for dest in _FIELDS}
    return EndpointConfig(**{k: v for k, v in given.items() if v is not None})
