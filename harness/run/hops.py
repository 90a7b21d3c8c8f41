"""What each HTTP hop counted during a run: every stub's calls by status, unmatched calls and
injected faults, and the HTTP fault layer's requests, connections and bytes. Read from their
/metrics before and after the load; the difference is the run's."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.system.loopback import fetch, scrape
from harness.system.spec import ENDPOINT
from harness.system.topology import Topology

__all__ = [
    "HopCounts",
    "clear_ledger",
    "dependency_report",
    "endpoint_hop_report",
    "fetch_ledger",
    "parse_counts",
    "scrape_hops",
]

_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class HopCounts:
    """One hop's counters at one moment."""

    statuses: Mapping[str, float] = field(default_factory=dict)
    faults: Mapping[str, float] = field(default_factory=dict)
    unmatched: float = 0.0
    connections: float = 0.0
    upstream_connections: float = 0.0
    bytes: Mapping[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> float:
        return sum(self.statuses.values())

    def __sub__(self, earlier: HopCounts) -> HopCounts:
        return HopCounts(
            statuses=_minus(self.statuses, earlier.statuses),
            faults=_minus(self.faults, earlier.faults),
            unmatched=self.unmatched - earlier.unmatched,
            connections=self.connections - earlier.connections,
            upstream_connections=self.upstream_connections - earlier.upstream_connections,
            bytes=_minus(self.bytes, earlier.bytes),
        )


def scrape_hops(topology: Topology) -> dict[str, HopCounts | None]:
    """Every hop's counters now; None for a hop whose /metrics did not answer."""
    urls = dict(topology.stub_urls)
    if topology.front_control_url is not None:
        urls[ENDPOINT] = topology.front_control_url
    return {name: _scrape(f"{url}/metrics") for name, url in urls.items()}


def clear_ledger(topology: Topology) -> None:
    """Forget the attempts the fault layer tied to logical calls, before a client's run."""
    if topology.front_control_url is not None:
        _request("DELETE", f"{topology.front_control_url}/_chaos/calls")


def fetch_ledger(topology: Topology) -> dict[str, Any] | None:
    """The fault layer's attempts by logical call, or None when it could not be read."""
    if topology.front_control_url is None:
        return None
    body = _request("GET", f"{topology.front_control_url}/_chaos/calls")
    if body is None:
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _request(method: str, url: str) -> bytes | None:
    return fetch(url, method=method, timeout_s=_TIMEOUT_S)


def dependency_report(counts: HopCounts | None, requests: int) -> dict[str, Any]:
    """A dependency's line in results.json: calls, calls per endpoint request, statuses."""
    if counts is None:
        return {"calls": None, "calls_per_request": None, "statuses": {}, "note": "no metrics"}
    calls = int(counts.calls)
    return {
        "calls": calls,
        "calls_per_request": round(calls / requests, 4) if requests else None,
        "statuses": {status: int(n) for status, n in sorted(counts.statuses.items())},
        "unmatched": int(counts.unmatched),
        "faults_injected": {kind: int(n) for kind, n in sorted(counts.faults.items())},
        "connections": int(counts.connections),
    }


def endpoint_hop_report(counts: HopCounts | None) -> dict[str, Any]:
    """The HTTP fault layer's view of the client's hop: what clients really sent and got."""
    if counts is None:
        return {"requests": None, "note": "no metrics"}
    return {
        "requests": int(counts.calls),
        "statuses": {status: int(n) for status, n in sorted(counts.statuses.items())},
        "faults_injected": {kind: int(n) for kind, n in sorted(counts.faults.items())},
        "connections": int(counts.connections),
        "upstream_connections": int(counts.upstream_connections),
        "bytes": {direction: int(n) for direction, n in sorted(counts.bytes.items())},
    }


def parse_counts(text: str) -> HopCounts:
    """A stub's (``stub_*``) or the fault layer's (``front_*``) counters from their /metrics."""
    statuses: defaultdict[str, float] = defaultdict(float)
    faults: defaultdict[str, float] = defaultdict(float)
    byte_counts: defaultdict[str, float] = defaultdict(float)
    single: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name in {"stub_calls_total", "front_requests_total"}:
                statuses[labels.get("status", "unknown")] += value
            elif name in {"stub_faults_injected_total", "front_faults_injected_total"}:
                faults[labels.get("kind", "unknown")] += value
            elif name == "front_bytes_total":
                byte_counts[labels.get("direction", "unknown")] += value
            elif name in {
                "stub_unmatched_total",
                "stub_connections_total",
                "front_connections_total",
                "front_upstream_connections_total",
            }:
                single[name.split("_", 1)[1]] += value
    return HopCounts(
        statuses=dict(statuses),
        faults=dict(faults),
        unmatched=single["unmatched_total"],
        connections=single["connections_total"],
        upstream_connections=single["upstream_connections_total"],
        bytes=dict(byte_counts),
    )


def _scrape(url: str) -> HopCounts | None:
    return scrape(url, parse_counts, timeout_s=_TIMEOUT_S)


def _minus(later: Mapping[str, float], earlier: Mapping[str, float]) -> dict[str, float]:
    return {key: value - earlier.get(key, 0.0) for key, value in later.items()}
