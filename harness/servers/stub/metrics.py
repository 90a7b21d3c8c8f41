"""Prometheus series of the stub, in a registry owned by one app so apps never share counters.

- ``stub_calls_total{route, status}``: API calls served (never /health, /metrics, /_chaos/*);
  ``status`` is the HTTP status sent, ``malformed`` for a connection broken on purpose, and
  ``disconnected`` when the client went away first;
- ``stub_unmatched_total``: calls no route (or recording) matched, answered 404;
- ``stub_faults_injected_total{kind}``: HTTP faults that hit a call, by fault kind;
- ``stub_connections_total``: TCP connections that carried at least one API call.
"""

from __future__ import annotations

import asyncio
import weakref

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "StubMetrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class StubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "stub_calls",
            "API calls served by the stub, by route and status.",
            ("route", "status"),
            registry=self.registry,
        )
        self.unmatched = Counter(
            "stub_unmatched",
            "API calls no route or recording matched (answered 404).",
            registry=self.registry,
        )
        self.faults_injected = Counter(
            "stub_faults_injected",
            "HTTP faults that hit a call, by fault kind.",
            ("kind",),
            registry=self.registry,
        )
        self.connections = Counter(
            "stub_connections",
            "TCP connections that carried at least one API call.",
            registry=self.registry,
        )
        # aiohttp has no hook for an accepted connection an app can use (the server object
        # belongs to whichever runner serves the app), so a connection is counted at its first
        # API call; transports are held weakly, so a closed connection is forgotten.
        self._seen: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()

    def saw_connection(self, transport: asyncio.BaseTransport | None) -> None:
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
