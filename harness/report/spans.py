"""Reading results.json defensively for the report: numbers, lists and maps that may be missing
or None in older files, where each phase lies in the run, whether the run streamed, and the
first second a per-second budget broke.

Phase spans are not in results.json: they are derived as the run derived them
(:meth:`harness.run.phases.PhaseClock.spans`), from the faults' actual times and the run's
length, which is the ``overall`` phase's ``seconds``. A phase entry that carries ``start_s`` and
``end_s`` itself is taken as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.scenario.budgets import OPERATORS

__all__ = [
    "as_list",
    "as_map",
    "as_number",
    "first_second_over",
    "phase_spans",
    "run_seconds",
    "second_value",
    "streamed",
]

# Budget metrics a single second of the timeline answers; the stream ones only in a run that
# streamed (its rows carry them).
_PER_SECOND = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "error_rate", "availability",
               "ttft_p50_ms", "ttft_p99_ms", "itl_p99_ms")  # fmt: skip


def as_number(value: object) -> float | None:
    """A finite number, or None for anything else (None, text, booleans, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def run_seconds(data: Mapping[str, Any]) -> float:
    """How long the run was, as its phases saw it; else as long as it took; else as long as
    its timeline."""
    overall = as_number(as_map(as_map(data.get("phases")).get("overall")).get("seconds"))
    if overall is not None and overall > 0:
        return overall
    took = as_number(data.get("duration_s"))
    if took is not None and took > 0:
        return took
    seconds = [as_number(as_map(row).get("t")) for row in as_list(data.get("timeline"))]
    return max((t + 1 for t in seconds if t is not None), default=0.0)


def streamed(data: Mapping[str, Any]) -> bool:
    """Whether the run's answers were streamed (``load.stream``): a phase has ``stream``
    figures or a second of the timeline counted tokens. Older files and runs of whole answers
    have neither."""
    if any(
        isinstance(as_map(p).get("stream"), Mapping) for p in as_map(data.get("phases")).values()
    ):
        return True
    return any(
        as_number(as_map(row).get("tokens")) is not None for row in as_list(data.get("timeline"))
    )


def _fault_times(data: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for fault in as_list(data.get("faults")):
        found = as_map(fault)
        name = found.get("name")
        start = as_number(found.get("actual_start_s"))
        if not isinstance(name, str) or start is None:
            continue
        starts[name] = start
        end = as_number(found.get("actual_end_s"))
        if end is not None:
            ends[name] = end
    return starts, ends


def phase_spans(data: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Each phase's (start, end) in seconds from the start, mirroring PhaseClock.spans."""
    run_s = run_seconds(data)
    phases = as_map(data.get("phases"))
    starts, ends = _fault_times(data)
    names = list(starts)
    names += [
        key.removeprefix("during:")
        for key in phases
        if isinstance(key, str) and key.startswith("during:") and key[7:] not in starts
    ]
    spans = {"overall": (0.0, run_s)}
    if names:
        first = min(starts.values(), default=run_s)
        last = max(ends.values(), default=run_s)
        spans["baseline"] = (0.0, first)
        for name in names:
            start = starts.get(name, run_s)
            spans[f"during:{name}"] = (start, max(ends.get(name, run_s), start))
        spans["recovery"] = (min(last, run_s), run_s)
    for name, phase in phases.items():
        said = as_map(phase)
        begins, finishes = as_number(said.get("start_s")), as_number(said.get("end_s"))
        if isinstance(name, str) and begins is not None and finishes is not None:
            spans[name] = (begins, finishes)
    return spans


def second_value(row: Mapping[str, Any], metric: str) -> float | None:
    """What one timeline row measured of a per-second budget metric; None if it cannot say."""
    if metric in ("error_rate", "availability"):
        completed = as_number(row.get("completed"))
        errors = as_number(row.get("errors"))
        if not completed or errors is None:
            return None
        rate = errors / completed
        return rate if metric == "error_rate" else 1 - rate
    if metric in _PER_SECOND:
        return as_number(row.get(metric))
    return None


def first_second_over(
    budget: Mapping[str, Any], timeline: Sequence[Any], spans: Mapping[str, tuple[float, float]]
) -> int | None:
    """The first second within the budget's phase whose own measurement breaks the budget, as
    RunResult.first_bad_second finds it; None where no second did or none can say."""
    metric = str(budget.get("metric") or "").removeprefix("client.")
    holds = OPERATORS.get(str(budget.get("op")))
    limit = as_number(budget.get("limit"))
    span = spans.get(str(budget.get("phase")))
    if metric not in _PER_SECOND or holds is None or limit is None or span is None:
        return None
    start, end = span
    rows = [as_map(row) for row in timeline]
    seconds = [(as_number(row.get("t")), row) for row in rows]
    timed = [(t, row) for t, row in seconds if t is not None]
    # Seconds wholly inside the phase carry only its requests; edge seconds count only when
    # the phase is too short to hold a whole one.
    inside = [(t, row) for t, row in timed if start <= t and t + 1 <= end]
    overlapping = [(t, row) for t, row in timed if start < t + 1 and t < end]
    for t, row in inside or overlapping:
        value = second_value(row, metric)
        if value is not None and not holds(value, limit):
            return int(t)
    return None
