"""The recorder's bounded memory on long runs: old seconds kept encoded, exact maxima, and the
fast HDR recording paths (one value, or a numpy array at once) agreeing with hdrh's own."""

from __future__ import annotations

import gc

import numpy as np
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.histograms import (
    new_histogram,
    new_timeline_histogram,
    record_many,
    record_micros,
)
from harness.loadgen.recorder import Recorder, timeline_row


def _fill(recorder: Recorder, seconds: int) -> None:
    for i in range(seconds * 10):
        t = i / 10
        recorder.offered(t)
        recorder.completed(t, t, t + (i % 7 + 1) / 100, status=200 if i % 5 else 503, failure=None)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=10**10), min_size=1, max_size=200))
def test_fast_recording_matches_hdrh_one_by_one_and_all_at_once(values: list[int]) -> None:
    for make in (new_histogram, new_timeline_histogram):
        theirs, ours, at_once = make(), make(), make()

        for value in values:
            theirs.record_value(min(max(value, 1), 600_000_000))
            record_micros(ours, value)
        record_many(at_once, np.array(values, dtype=np.int64))

        for found in (ours, at_once):
            assert list(found.counts) == list(theirs.counts)
            assert (found.total_count, found.min_value, found.max_value) == (
                theirs.total_count,
                theirs.min_value,
                theirs.max_value,
            )


def test_old_seconds_are_frozen_and_read_back_the_same() -> None:
    small, large = Recorder(dense_seconds=3), Recorder(dense_seconds=1000)

    for recorder in (small, large):
        _fill(recorder, 12)

    assert len(small._dense) == 3
    assert list(small.buckets) == list(large.buckets) == list(range(12))
    assert [timeline_row(b) for b in small.seconds()] == [timeline_row(b) for b in large.seconds()]


def test_a_late_answer_for_a_frozen_second_still_counts() -> None:
    recorder = Recorder(dense_seconds=2)
    _fill(recorder, 6)

    recorder.completed(0.5, 0.5, 9.0, status=200, failure=None)

    assert recorder.buckets[0].requests == 11
    assert recorder.buckets[0].max_ms() == 8500.0
    assert recorder.phases["overall"].requests == 61


def test_a_long_run_keeps_as_many_histograms_as_live_seconds() -> None:
    # With the collector off, histograms left behind by frozen seconds would pile up here.
    gc.collect()
    gc.disable()
    try:
        before = _histograms()
        recorder = Recorder(dense_seconds=3)
        _fill(recorder, 200)
        # Live seconds (latency, service and lag each) and phases; a spare bucket waits for the
        # next second. Phases saw no body sizes, so they hold no size histograms.
        assert _histograms() - before <= 3 * (3 + 1) + 2
        assert len(recorder.buckets) == 200
    finally:
        gc.enable()


def _histograms() -> int:
    return sum(isinstance(o, HdrHistogram) for o in gc.get_objects())


def test_merging_encoded_frozen_seconds_is_exact() -> None:
    parts = [Recorder(dense_seconds=2), Recorder(dense_seconds=2)]
    for part in parts:
        _fill(part, 8)
    whole = Recorder(dense_seconds=1000)
    _fill(whole, 8)
    _fill(whole, 8)
    merged = Recorder(dense_seconds=2)

    for part in parts:
        merged.merge_encoded(part.encode())

    assert [timeline_row(b) for b in merged.seconds()] == [timeline_row(b) for b in whole.seconds()]
    assert merged.phases["overall"].max_ms() == whole.phases["overall"].max_ms()


def test_timeline_percentiles_never_exceed_the_exact_max() -> None:
    recorder = Recorder()

    recorder.completed(0.0, 0.0, 0.300001, status=200, failure=None)

    row = timeline_row(recorder.buckets[0])
    assert row["p99_ms"] == row["max_ms"] == 300.001
