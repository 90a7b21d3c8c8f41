"""Each second of the timeline says how late the generator sent its requests: ``lag_p99_ms``, the
p99 of (sent - intended start) of the requests intended in that second, kept through freezing,
snapshots, encodings, merges and the batch path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.batch import Batch
from harness.loadgen.histograms import Bucket
from harness.loadgen.recorder import Recorder, timeline_row


def _send(sink: Recorder | Batch, intended: float, lag_s: float) -> None:
    sent = intended + lag_s
    sink.offered(intended)
    sink.completed(intended, sent, sent + 0.010, status=200, failure=None)


def _recorder(dense_seconds: int = 32) -> Recorder:
    """Second 0: 100 requests late by 0.1..10 ms; second 1: none sent; second 2: all 50 us late,
    but one 250 ms late (the p99 of 100 is the 99th smallest)."""
    recorder = Recorder(dense_seconds=dense_seconds)
    for i in range(100):
        _send(recorder, i / 100, (i + 1) / 10_000)
    recorder.offered(1.5)
    for i in range(100):
        _send(recorder, 2 + i / 100, 0.250 if i == 0 else 0.000050)
    return recorder


def test_each_second_has_the_p99_of_its_own_requests_lag() -> None:
    rows = [timeline_row(bucket) for bucket in _recorder().seconds()]

    # 9.9 ms lies in a 2-digit bucket 64 us wide; the timeline keeps 1 %.
    assert rows[0]["lag_p99_ms"] == 9.919
    assert rows[1]["lag_p99_ms"] is None
    assert rows[1]["offered"] == 1
    # Seconds since the start in floats: 2.xx + 50 us comes back a microsecond short or not.
    assert rows[2]["lag_p99_ms"] == pytest.approx(0.05, abs=0.0015)


def test_the_p99_of_a_second_with_one_request_is_its_lag_exactly() -> None:
    recorder = Recorder()
    _send(recorder, 0.5, 0.0123)

    assert timeline_row(recorder.buckets[0])["lag_p99_ms"] == pytest.approx(12.3, abs=0.0015)


def test_lag_is_what_the_generator_added_not_the_answer_time() -> None:
    recorder = Recorder()
    # Sent 3 ms late, answered 2 s later: the endpoint's time is not the generator's.
    recorder.completed(0.1, 0.103, 2.103, status=200, failure=None)

    row = timeline_row(recorder.buckets[0])
    assert row["lag_p99_ms"] == pytest.approx(3.0, abs=0.0015)
    assert row["max_ms"] == pytest.approx(2003.0, abs=0.0015)


def test_frozen_seconds_read_back_their_lag() -> None:
    small, large = _recorder(dense_seconds=1), _recorder(dense_seconds=1000)

    assert len(small._frozen) == 2
    assert [timeline_row(b)["lag_p99_ms"] for b in small.seconds()] == [
        timeline_row(b)["lag_p99_ms"] for b in large.seconds()
    ]
    snapshot = small.snapshot(0)
    assert snapshot is not None
    assert timeline_row(snapshot)["lag_p99_ms"] == 9.919


def test_a_late_answer_thaws_a_frozen_second_keeping_its_lag() -> None:
    thawed, dense = _recorder(dense_seconds=1), _recorder(dense_seconds=1000)

    for recorder in (thawed, dense):
        recorder.completed(0.5, 1.25, 1.5, status=200, failure=None)

    bucket = thawed.buckets[0]
    assert bucket.requests == 101
    assert bucket.lag_ms(100) == 750.0
    assert timeline_row(bucket) == timeline_row(dense.buckets[0])


def test_merged_workers_give_the_lag_of_the_whole() -> None:
    parts = [Recorder(dense_seconds=2), Recorder(dense_seconds=2)]
    whole = Recorder()
    for i in range(400):
        intended, lag = i / 100, (i * 37 % 101) / 1000
        _send(parts[i % 2], intended, lag)
        _send(whole, intended, lag)
    merged = Recorder(dense_seconds=2)

    for part in parts:
        merged.merge_encoded(pickle.loads(pickle.dumps(part.encode())))

    expected = [timeline_row(b)["lag_p99_ms"] for b in whole.seconds()]
    assert [timeline_row(b)["lag_p99_ms"] for b in merged.seconds()] == expected
    assert all(value is not None and value > 90 for value in expected)


def test_a_tick_bucket_merged_from_workers_keeps_the_lag() -> None:
    # What the parent of worker processes does with each second's ticks.
    one, two = Recorder(), Recorder()
    _send(one, 0.25, 0.00390625)
    _send(two, 0.75, 0.01953125)
    ticked = Bucket(second=0)

    for part in (one, two):
        ticked.merge_encoded(part.buckets[0].encode())
    added = Bucket(second=0)
    added.merge(one.buckets[0])
    added.merge(two.buckets[0])

    for bucket in (ticked, added):
        assert bucket.lag.total_count == 2
        assert bucket.lag_ms(100) == 19.531
        assert bucket.offered == 2


def test_a_reused_bucket_forgets_the_lag_of_its_last_second() -> None:
    recorder = Recorder(dense_seconds=1)
    _send(recorder, 0.5, 0.25)
    for second in range(1, 4):
        _send(recorder, second + 0.5, 0.0009765625)

    found = [timeline_row(b)["lag_p99_ms"] for b in recorder.seconds()]
    assert found == [250.0, 0.976, 0.976, 0.976]


lags = st.lists(
    st.tuples(
        st.floats(min_value=-1.0, max_value=20.0), st.floats(min_value=-0.001, max_value=3.0)
    ),
    max_size=200,
)


@settings(max_examples=40, deadline=None)
@given(lags, st.integers(min_value=1, max_value=64))
def test_a_batch_records_the_lag_recording_each_request_records(
    found: list[tuple[float, float]], size: int
) -> None:
    one_by_one, batched = Recorder(dense_seconds=4), Recorder(dense_seconds=4)
    batch = Batch(batched, size=size)

    for intended, lag in found:
        _send(one_by_one, intended, lag)
        _send(batch, intended, lag)
    batch.flush()

    assert batched.encode() == one_by_one.encode()
    assert [timeline_row(b) for b in batched.seconds()] == [
        timeline_row(b) for b in one_by_one.seconds()
    ]


def test_lags_recorded_at_once_fill_the_same_counters() -> None:
    one, many = Bucket(), Bucket()
    values = [0.0, 0.000_001, 0.0005, 0.25, 700.0]

    for value in values:
        one.add_lag(value)
    many.add_lags((np.array(values) * 1_000_000).astype(np.int64))

    assert list(one.lag.counts) == list(many.lag.counts)
    assert (one.lag.min_value, one.lag.max_value) == (many.lag.min_value, many.lag.max_value)
