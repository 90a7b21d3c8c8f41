"""Reference clients under test: small callables ``call(url, payload)`` a user can copy."""

from __future__ import annotations

__all__ = ["REFERENCE_CLIENTS"]

# Paths, not imports: naming a client costs nothing until the harness loads the one it runs.
REFERENCE_CLIENTS: dict[str, str] = {
    "naive": "harness.clients.naive:call",
    "fixed_retries": "harness.clients.fixed_retries:call",
    "resilient": "harness.clients.resilient:call",
    "resilient_async": "harness.clients.resilient:acall",
    "batched": "harness.clients.batched:call",
    "cached": "harness.clients.cached:call",
    "naive_stream": "harness.clients.streaming:naive_stream",
    "restarting_stream": "harness.clients.streaming:restarting_stream",
}
