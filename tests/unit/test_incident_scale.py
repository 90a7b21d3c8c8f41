"""Cutting, compressing and reading the signature of an incident."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.incident.scale import compress, cut, sort_observations, window
from harness.incident.signature import baseline, candidate_windows, per_second
from harness.incident.sources import Observation

T0 = 1767225600.0


def _steady(seconds: int, per_second_count: int) -> list[Observation]:
    return [
        Observation(T0 + s + i / per_second_count, status=200, latency_ms=10.0)
        for s in range(seconds)
        for i in range(per_second_count)
    ]


def test_speed_preserves_total_and_compresses_time() -> None:
    observations = _steady(20, 3)
    seconds = per_second(compress(observations, 10.0, T0))
    assert len(seconds) == 2
    assert [s.rate for s in seconds] == [30.0, 30.0]
    assert sum(s.rate for s in seconds) == len(observations)


def test_fractional_speed_keeps_every_request() -> None:
    observations = _steady(7, 2)
    seconds = per_second(compress(observations, 2.5, T0))
    assert len(seconds) == 3
    assert sum(s.rate for s in seconds) == 14


def test_speed_must_be_positive() -> None:
    with pytest.raises(UsageError, match="--speed > 0"):
        compress(_steady(1, 1), 0.0, T0)


def test_from_to_cut_keeps_the_half_open_range() -> None:
    observations = _steady(10, 1)
    bounds = window("2026-01-01T00:00:03Z", str(T0 + 6))
    kept = cut(observations, bounds, "log")
    assert [o.time_s - T0 for o in kept] == [3.0, 4.0, 5.0]


def test_empty_range_says_what_the_file_holds() -> None:
    bounds = window("2026-01-02T00:00:00Z", None)
    with pytest.raises(UsageError) as caught:
        cut(_steady(10, 1), bounds, "access.log")
    message = str(caught.value)
    assert "access.log holds 2026-01-01T00:00:00Z to 2026-01-01T00:00:09Z" in message


def test_to_before_from_and_bad_times_are_refused() -> None:
    with pytest.raises(UsageError, match="--to after --from"):
        window("2026-01-01T00:00:05Z", "2026-01-01T00:00:01Z")
    with pytest.raises(UsageError, match="expected --from as ISO 8601"):
        window("yesterday", None)


def test_out_of_order_observations_are_sorted_and_counted() -> None:
    times = [0.0, 2.0, 1.0, 3.0, 2.5]
    ordered, late = sort_observations([Observation(T0 + t) for t in times])
    assert late == 2
    assert [o.time_s - T0 for o in ordered] == [0.0, 1.0, 2.0, 2.5, 3.0]


def test_candidate_windows_where_errors_or_latency_break_the_baseline() -> None:
    observations: list[Observation] = []
    for s in range(12):
        for i in range(10):
            failing = 4 <= s < 6 and i < 3  # 30% 5xx in seconds 4-5
            slow = 8 <= s < 10  # p99 400 ms against 10 ms in seconds 8-9
            observations.append(
                Observation(
                    T0 + s + i / 10,
                    status=503 if failing else 200,
                    latency_ms=400.0 if slow else 10.0,
                )
            )
    seconds = per_second(compress(observations, 1.0, T0))
    base = baseline(seconds)
    assert (base.error_rate, base.p99_ms, base.seconds) == (0.0, 10.0, 3)
    windows = candidate_windows(seconds, base)
    assert [(w.start_s, w.end_s, w.reasons) for w in windows] == [
        (4, 6, ("errors",)),
        (8, 10, ("latency",)),
    ]
    assert windows[0].peak_error_rate == pytest.approx(0.3)
    assert windows[1].peak_p99_ms == 400.0


def test_small_rise_within_threshold_is_not_a_window() -> None:
    observations = [
        Observation(T0 + s + i / 100, status=500 if (s >= 6 and i < 4) else 200)
        for s in range(10)
        for i in range(100)
    ]
    seconds = per_second(compress(observations, 1.0, T0))
    assert candidate_windows(seconds, baseline(seconds)) == ()
