"""Cut an incident to its interesting part and compress its time axis.

``--speed X`` divides the time axis by X: a request ``t`` seconds after the start of the cut
replays ``t / X`` seconds after the start. Every request is kept, so the total number of
requests (and of errors, by class) is preserved and each replayed second holds the requests of
X source seconds: rates are multiplied by X, the request count per replayed second equals the
source's count per X seconds, and the run lasts 1/X as long.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from harness.errors import UsageError
from harness.incident.sources import Observation, parse_time

__all__ = ["Window", "compress", "cut", "describe_time", "sort_observations", "window"]


@dataclass(frozen=True, slots=True)
class Window:
    """The part of the source to import: epoch seconds, ``None`` meaning unbounded."""

    start_s: float | None = None
    end_s: float | None = None


def describe_time(epoch_s: float) -> str:
    """An epoch time as ISO 8601 UTC, for messages and signature.json."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


def _bound(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(
            f"expected {flag} as ISO 8601 (2026-01-31T12:00:00Z) or epoch seconds but got {text!r}"
        ) from exc


def window(start: str | None, end: str | None) -> Window:
    """``--from``/``--to`` values as a Window; the end must come after the start."""
    found = Window(_bound(start, "--from"), _bound(end, "--to"))
    if found.start_s is not None and found.end_s is not None and found.end_s <= found.start_s:
        raise UsageError(f"expected --to after --from but got --from {start} --to {end}")
    return found


def sort_observations(observations: Sequence[Observation]) -> tuple[tuple[Observation, ...], int]:
    """Observations in time order and how many were found before an earlier one."""
    late = 0
    latest = -math.inf
    for observation in observations:
        if observation.time_s < latest:
            late += 1
        latest = max(latest, observation.time_s)
    return tuple(sorted(observations, key=lambda o: o.time_s)), late


def cut(
    observations: Sequence[Observation], bounds: Window, source: str
) -> tuple[Observation, ...]:
    """The sorted observations with ``start <= time < end``; an empty result is an error that
    says which range the source holds."""
    if not observations:
        raise UsageError(f"{source} holds no readable requests")
    kept = tuple(
        o
        for o in observations
        if (bounds.start_s is None or o.time_s >= bounds.start_s)
        and (bounds.end_s is None or o.time_s < bounds.end_s)
    )
    if not kept or not any(o.weight > 0 for o in kept):
        first, last = observations[0].time_s, observations[-1].time_s
        asked = " to ".join(
            describe_time(b) if b is not None else "..." for b in (bounds.start_s, bounds.end_s)
        )
        raise UsageError(
            f"no requests in {asked}: {source} holds {describe_time(first)} to "
            f"{describe_time(last)} ({first:.3f} to {last:.3f} epoch seconds)"
        )
    return kept


def compress(
    observations: Sequence[Observation], speed: float, origin_s: float
) -> tuple[Observation, ...]:
    """Times made relative to ``origin_s`` and divided by ``speed``; weights unchanged."""
    if not math.isfinite(speed) or speed <= 0:
        raise UsageError(f"expected --speed > 0 but got {speed!r}")
    return tuple(replace(o, time_s=(o.time_s - origin_s) / speed) for o in observations)
