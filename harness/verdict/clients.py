"""A client under test measured from both sides: what its users saw (the run's own phases) and
what reached the endpoint (the HTTP fault layer's counts and its ledger of attempts per logical
call), and the measures derived from the two: retry amplification, Retry-After respected,
connections per call, records per request, cache hit rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from harness.scenario.budgets import RUN_METRIC_NAMES

__all__ = ["Attempt", "client_measures", "parse_ledger", "retry_after_respected"]

# A retried attempt that comes back this much earlier than Retry-After still honoured it: the
# client's clock and the layer's differ by scheduling noise, not by intent.
_TOLERANCE_S = 0.05
_SHEDDING = frozenset({"429", "503"})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request of a logical call as the fault layer saw it (seconds on the layer's clock)."""

    start_s: float
    end_s: float
    status: str
    retry_after_s: float | None = None


def parse_ledger(body: Mapping[str, Any]) -> dict[int, list[Attempt]]:
    """``{"calls": {"17": [[start_s, end_s, status, retry_after_s], ...]}}`` by call index."""
    ledger: dict[int, list[Attempt]] = {}
    for key, rows in body.get("calls", {}).items():
        ledger[int(key)] = [
            Attempt(float(start), float(end), str(status), None if after is None else float(after))
            for start, end, status, after in rows
        ]
    return ledger


def retry_after_respected(ledger: Mapping[int, Sequence[Attempt]]) -> float | None:
    """The share of attempts made after a 429 or 503 with Retry-After that waited at least as
    long as told; None when no call was told to wait and tried again."""
    told = waited = 0
    for attempts in ledger.values():
        ordered = sorted(attempts, key=lambda a: a.start_s)
        for before, after in pairwise(ordered):
            if before.status in _SHEDDING and before.retry_after_s is not None:
                told += 1
                if after.start_s - before.end_s >= before.retry_after_s - _TOLERANCE_S:
                    waited += 1
    return round(waited / told, 4) if told else None


def client_measures(
    *,
    calls: int,
    succeeded: Sequence[int],
    records_per_call: int,
    hop: Mapping[str, Any] | None,
    ledger: Mapping[int, Sequence[Attempt]] | None,
) -> dict[str, float | None]:
    """Every run-wide measure a budget can name, None where it could not be measured."""
    measures: dict[str, float | None] = dict.fromkeys(RUN_METRIC_NAMES)
    if hop is None or hop.get("requests") is None:
        return measures
    requests = int(hop["requests"])
    statuses: Mapping[str, int] = hop.get("statuses", {})
    # A status of 400 or more, or none at all (a malformed answer, an unreachable endpoint).
    failed = sum(n for status, n in statuses.items() if not status.isdigit() or int(status) >= 400)
    measures["endpoint.requests"] = requests
    measures["endpoint.error_rate"] = round(failed / requests, 6) if requests else None
    for status, n in statuses.items():
        measures[f"endpoint.status_{status}"] = n
    if calls:
        measures["retry_amplification"] = round(requests / calls, 4)
        measures["connections_per_call"] = round(int(hop.get("connections", 0)) / calls, 4)
    if requests:
        measures["records_per_request"] = round(calls * records_per_call / requests, 4)
    if ledger is not None:
        measures["retry_after_respected"] = retry_after_respected(ledger)
        if calls:
            hits = sum(1 for index in succeeded if not ledger.get(index))
            measures["cache_hit_rate"] = round(hits / calls, 4)
    return measures
