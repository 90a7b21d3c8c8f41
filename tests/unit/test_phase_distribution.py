"""Each phase's latency curve (``distribution``): [percentile, ms] from the fastest request (0)
to the slowest (100), rising, agreeing with the phase's own percentiles, and kept exact at both
ends through merges."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.histograms import DISTRIBUTION_PERCENTILES, Tally, _values_at, new_histogram
from harness.loadgen.recorder import Recorder
from harness.run.phases import PhaseClock
from harness.verdict.phases import phase_stats


def _recorder() -> Recorder:
    """1000 requests in the baseline at 1..1000 ms (one each); 10 during "slow" at 2 s each."""
    clock = PhaseClock(["slow"])
    clock.started("slow", 10.0)
    clock.ended("slow", 11.0)
    recorder = Recorder(clock)
    for i in range(1000):
        t = i / 100
        recorder.completed(t, t, t + (i + 1) / 1000, status=200, failure=None)
    for i in range(10):
        t = 10.0 + i / 10
        recorder.completed(t, t, t + 2.0, status=200, failure=None)
    return recorder


def test_the_curve_has_every_point_and_its_ends_are_the_fastest_and_slowest() -> None:
    summary = phase_stats(_recorder(), 12.0)["baseline"].summary()
    curve = summary["distribution"]

    assert [point[0] for point in curve] == [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100]
    assert curve[0] == [0, 1.0]
    assert curve[-1] == [100, 1000.0] == [100, summary["max_ms"]]


def test_the_curve_agrees_with_the_phase_percentiles() -> None:
    stats = phase_stats(_recorder(), 12.0)

    for name in ("baseline", "during:slow", "overall"):
        summary = stats[name].summary()
        curve = dict((p, ms) for p, ms in summary["distribution"])
        assert curve[50] == summary["p50_ms"]
        assert curve[90] == summary["p90_ms"]
        assert curve[99] == summary["p99_ms"]
        assert curve[100] == summary["max_ms"]


def test_the_curve_of_known_latencies() -> None:
    curve = dict(phase_stats(_recorder(), 12.0)["baseline"].summary()["distribution"])

    # Exact below 2.048 ms; above, within the 3 digits a phase keeps (the bucket's top edge).
    assert curve[10] == 100.031
    assert curve[25] == 250.111
    assert curve[50] == 500.223
    assert curve[99.9] == 999.423


def test_a_phase_with_one_slow_tail_rises_to_it() -> None:
    curve = phase_stats(_recorder(), 12.0)["overall"].summary()["distribution"]
    values = [ms for _, ms in curve]

    assert values == sorted(values)
    assert values[0] == 1.0
    assert values[-1] == 2000.0
    # 10 slow requests of 1010: the p99.9 and above are theirs.
    assert dict(curve)[99.9] == 2000.0


def test_a_phase_without_requests_has_an_empty_curve() -> None:
    clock = PhaseClock(["slow"])
    recorder = Recorder(clock)
    recorder.completed(0.5, 0.5, 0.6, status=200, failure=None)

    stats = phase_stats(recorder, 1.0)

    assert stats["during:slow"].summary()["distribution"] == []
    assert len(stats["overall"].summary()["distribution"]) == len(DISTRIBUTION_PERCENTILES)


def test_merged_tallies_keep_the_exact_fastest_and_slowest() -> None:
    # 1.0005 ms and 1999.9 ms lie inside buckets; hdrh alone reports their edges.
    parts = [Tally(), Tally()]
    parts[0].add(0.0010005, 0.001, 200, None)
    parts[1].add(1.9999, 1.9, 200, None)
    parts[1].add(0.5, 0.5, 200, None)
    encoded, added, empty_first = Tally(), Tally(), Tally()

    for part in parts:
        encoded.merge_encoded(pickle.loads(pickle.dumps(part.encode())))
        added.merge(part)
    empty_first.merge(Tally())
    empty_first.merge(parts[0])
    empty_first.merge(Tally())

    for tally in (encoded, added):
        curve = tally.distribution_ms()
        assert curve[0] == [0, 1.0]
        assert curve[-1] == [100, 1999.9]
    assert empty_first.distribution_ms()[0] == [0, 1.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=600_000_000), min_size=1, max_size=300))
def test_every_point_is_what_hdrh_answers_bounded_by_the_exact_ends(values: list[int]) -> None:
    histogram = new_histogram()
    for value in values:
        histogram.record_value(value)

    found = _values_at(histogram, DISTRIBUTION_PERCENTILES)

    assert found[0] == min(values)
    assert found[-1] == max(values)
    assert found == sorted(found)
    for percentile, value in zip(DISTRIBUTION_PERCENTILES[1:], found[1:], strict=True):
        assert value == min(histogram.get_value_at_percentile(percentile), max(values))
