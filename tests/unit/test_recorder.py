"""Recorder: per-second buckets keyed by intended time, and per-phase tallies from a PhaseClock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.histograms import Tally
from harness.loadgen.recorder import Recorder, timeline_row
from harness.run.phases import PhaseClock
from harness.verdict.phases import PhaseStats, phase_stats

# HDR histograms with 3 significant digits: any value is within 0.1 %.
HDR = 1e-3


def _request(recorder: Recorder, intended: float, ms: float, status: int | None = 200) -> None:
    failure = None if status is not None else "timeout"
    recorder.completed(intended, intended, intended + ms / 1000, status=status, failure=failure)


def _one_fault(start: float = 2.0, end: float = 4.0) -> PhaseClock:
    clock = PhaseClock(["slow"])
    clock.started("slow", start)
    clock.ended("slow", end)
    return clock


def test_completed_lands_in_bucket_of_intended_second() -> None:
    recorder = Recorder()

    recorder.completed(2.7, sent=3.1, done=3.4, status=200, failure=None)

    assert list(recorder.buckets) == [2]
    row = timeline_row(recorder.buckets[2])
    assert row["t"] == 2
    assert row["completed"] == 1
    assert row["p50_ms"] == pytest.approx(700.0, rel=HDR)
    assert row["max_ms"] == pytest.approx(700.0, rel=HDR)
    assert row["service_p50_ms"] == pytest.approx(300.0, rel=HDR)


def test_offered_counts_by_intended_second_and_negative_time_is_second_zero() -> None:
    recorder = Recorder()

    for t in (-0.2, 0.0, 0.99, 1.0, 1.5):
        recorder.offered(t)

    assert [(b.second, b.offered) for b in recorder.seconds()] == [(0, 3), (1, 2)]


def test_seconds_are_sorted() -> None:
    recorder = Recorder()
    for t in (5.5, 0.5, 3.5):
        recorder.offered(t)

    assert [b.second for b in recorder.seconds()] == [0, 3, 5]


def test_errors_count_4xx_5xx_and_failures_but_not_2xx_3xx() -> None:
    recorder = Recorder()
    for status in (200, 204, 301, 304, 400, 429, 503):
        recorder.completed(0.1, 0.1, 0.2, status=status, failure=None)
    recorder.completed(0.1, 0.1, 0.2, status=None, failure="timeout")
    recorder.completed(0.1, 0.1, 0.2, status=None, failure=None)

    bucket = recorder.buckets[0]
    assert bucket.requests == 9
    assert bucket.errors == 5
    assert dict(bucket.failures) == {"timeout": 1, "error": 1}
    assert bucket.errors_by_class() == {"400": 1, "429": 1, "503": 1, "timeout": 1, "error": 1}
    row = timeline_row(bucket)
    assert row["errors"] == 5
    assert row["statuses"] == {"200": 1, "204": 1, "301": 1, "304": 1, "400": 1, "429": 1, "503": 1}


def test_gauge_keeps_max_per_second_and_per_phase() -> None:
    recorder = Recorder(_one_fault())
    recorder.gauge(1.1, queue_depth=3, inflight=2)
    recorder.gauge(1.5, queue_depth=7, inflight=None)
    recorder.gauge(1.9, queue_depth=2, inflight=5)
    recorder.gauge(2.5, queue_depth=1, inflight=1)

    assert (recorder.buckets[1].queue_depth, recorder.buckets[1].inflight) == (7, 5)
    assert recorder.buckets[2].queue_depth == 1
    phases = phase_stats(recorder, 6.0)
    assert phases["baseline"].value("max_queue_depth") == 7
    assert phases["during:slow"].value("max_queue_depth") == 1
    assert phases["overall"].value("max_queue_depth") == 7
    assert phases["recovery"].value("max_queue_depth") is None


def test_gauge_without_samples_leaves_none() -> None:
    recorder = Recorder()
    recorder.gauge(0.5, queue_depth=None, inflight=None)

    assert recorder.buckets[0].queue_depth is None
    assert timeline_row(recorder.buckets[0])["p99_ms"] is None


def test_clock_without_faults_has_only_overall() -> None:
    clock = PhaseClock()

    assert clock.phase_names() == ["overall"]
    assert clock.phases_at(3.0) == ["overall"]
    assert clock.spans(5.0) == {"overall": (0.0, 5.0)}
    assert list(phase_stats(Recorder(), 5.0)) == ["overall"]


@pytest.mark.parametrize(
    ("t", "phases"),
    [
        (0.0, ["overall", "baseline"]),
        (1.999, ["overall", "baseline"]),
        (2.0, ["overall", "during:slow"]),
        (3.999, ["overall", "during:slow"]),
        (4.0, ["overall", "recovery"]),
        (9.0, ["overall", "recovery"]),
    ],
)
def test_clock_phases_follow_actual_times(t: float, phases: list[str]) -> None:
    assert _one_fault().phases_at(t) == phases


def test_clock_before_any_fault_applied_is_baseline_and_open_fault_has_no_recovery() -> None:
    clock = PhaseClock(["a", "b"])
    assert clock.phases_at(5.0) == ["overall", "baseline"]

    clock.started("a", 1.0)
    clock.started("b", 2.0)
    clock.ended("a", 3.0)

    assert clock.phase_names() == ["overall", "baseline", "during:a", "during:b", "recovery"]
    assert clock.phases_at(2.5) == ["overall", "during:a", "during:b"]
    assert clock.phases_at(4.0) == ["overall", "during:b"]

    clock.ended("b", 5.0)
    assert clock.phases_at(4.0) == ["overall", "during:b"]
    assert clock.phases_at(5.0) == ["overall", "recovery"]
    assert clock.spans(10.0) == {
        "overall": (0.0, 10.0),
        "baseline": (0.0, 1.0),
        "during:a": (1.0, 3.0),
        "during:b": (2.0, 5.0),
        "recovery": (5.0, 10.0),
    }


def test_phase_stats_merge_seconds_exactly() -> None:
    recorder = Recorder()
    for n in range(85):
        _request(recorder, 0.01 * n, 10.0)
    for n in range(14):
        _request(recorder, 1.0 + 0.01 * n, 100.0, status=500)
    _request(recorder, 2.5, 1000.0)
    _request(recorder, 2.6, 1000.0, status=None)
    recorder.gauge(0.5, queue_depth=2, inflight=None)
    recorder.gauge(2.5, queue_depth=6, inflight=None)

    stats = phase_stats(recorder, 4.0)["overall"]

    # 101 latencies: 85 x 10 ms, 14 x 100 ms, 2 x 1000 ms, in three seconds.
    assert [b.requests for b in recorder.seconds()] == [85, 14, 2]
    assert stats.seconds == 4.0
    assert stats.requests == 101
    assert stats.errors == 15
    assert stats.value("requests") == 101
    assert stats.value("errors") == 15
    assert stats.value("error_rate") == round(15 / 101, 6)
    assert stats.value("throughput_rps") == round(101 / 4, 2)
    assert stats.value("timeouts") == 1
    assert stats.value("max_queue_depth") == 6
    assert stats.value("p50_ms") == pytest.approx(10.0, rel=HDR)
    assert stats.value("p90_ms") == pytest.approx(100.0, rel=HDR)
    assert stats.value("p99_ms") == pytest.approx(1000.0, rel=HDR)
    assert stats.value("max_ms") == pytest.approx(1000.0, rel=HDR)
    assert stats.errors_by_class() == {"500": 14, "timeout": 1}
    assert stats.value("unknown_metric") is None


def test_fractional_percentiles_are_read() -> None:
    recorder = Recorder()
    for ms in [10.0] * 990 + [50.0] * 9 + [800.0]:
        _request(recorder, 0.5, ms)

    stats = phase_stats(recorder, 1.0)["overall"]

    assert stats.value("p99_ms") == pytest.approx(10.0, rel=HDR)
    assert stats.value("p99.9_ms") == pytest.approx(50.0, rel=HDR)
    assert stats.value("p99.99_ms") == pytest.approx(800.0, rel=HDR)


def test_phase_without_requests_has_no_rates_or_percentiles() -> None:
    stats = PhaseStats("recovery", Tally(), 8.0, 12.0)

    assert stats.requests == 0
    assert stats.seconds == 4.0
    assert stats.value("error_rate") is None
    assert stats.value("p99_ms") is None
    assert stats.value("max_ms") is None
    assert stats.value("throughput_rps") == 0
    summary = stats.summary()
    assert summary["error_rate"] == 0.0
    assert summary["p50_ms"] is None


def test_phase_of_no_length_has_no_throughput() -> None:
    assert PhaseStats("during:x", Tally(), 12.0, 12.0).value("throughput_rps") is None


_requests = st.lists(
    st.tuples(
        st.floats(0.0, 11.99, allow_nan=False),
        st.sampled_from([200, 302, 404, 429, 503, None]),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(requests=_requests, start=st.floats(0.0, 6.0), length=st.floats(0.01, 5.0))
def test_phases_partition_the_requests_of_a_single_fault_run(
    requests: list[tuple[float, int | None]], start: float, length: float
) -> None:
    recorder = Recorder(_one_fault(start, start + length))
    for intended, status in requests:
        _request(recorder, intended, 5.0, status)

    buckets = recorder.seconds()
    phases = phase_stats(recorder, 12.0)
    parts = [phases[name] for name in ("baseline", "during:slow", "recovery")]

    assert phases["overall"].requests == sum(b.requests for b in buckets) == len(requests)
    assert sum(p.requests for p in parts) == len(requests)
    assert (
        sum(p.errors for p in parts) == phases["overall"].errors == sum(b.errors for b in buckets)
    )
    assert phases["overall"].tally.latency.get_total_count() == len(requests)
