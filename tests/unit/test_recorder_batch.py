"""Recording a batch of requests with numpy gives exactly what recording them one by one gives:
histograms, status and failure counts, seconds with their scheduling lag, phases with their body
sizes, and generator lag (single histograms: test_loadgen_timeline.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.batch import Batch
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.run.phases import PhaseClock

# (intended, lag, service time, outcome, request bytes, response bytes): an outcome >= 0 is a
# status, else a failure's index; a size may be unknown (None).
Request = tuple[float, float, float, int, int | None, int | None]
FAILURES = ("timeout", "connection", "invalid_body")
sizes = st.one_of(st.none(), st.integers(min_value=0, max_value=1 << 31))
requests = st.lists(
    st.tuples(
        st.floats(min_value=-2.0, max_value=40.0),
        st.floats(min_value=0.0, max_value=0.5),
        st.floats(min_value=0.0, max_value=3.0),
        st.sampled_from([200, 200, 429, 503, -1, -2, -3]),
        sizes,
        sizes,
    ),
    max_size=300,
)


def _clock() -> PhaseClock:
    clock = PhaseClock(["slow", "down"])
    clock.started("slow", 5.0)
    clock.ended("slow", 12.5)
    clock.started("down", 10.0)
    clock.ended("down", 20.25)
    return clock


def _record(recorder: Recorder, sink: Recorder | Batch, found: list[Request]) -> None:
    for intended, lag, service, outcome, request_bytes, response_bytes in found:
        sink.offered(intended)
        status = outcome if outcome >= 0 else None
        failure = FAILURES[-1 - outcome] if outcome < 0 else None
        sent = intended + lag
        sink.completed(
            intended,
            sent,
            sent + service,
            status=status,
            failure=failure,
            request_bytes=request_bytes,
            response_bytes=response_bytes,
        )
    if isinstance(sink, Batch):
        sink.flush()


@settings(max_examples=40, deadline=None)
@given(requests, st.integers(min_value=1, max_value=64))
def test_a_batch_records_what_recording_each_request_records(
    found: list[Request], size: int
) -> None:
    one_by_one, batched = Recorder(_clock()), Recorder(_clock())

    _record(one_by_one, one_by_one, found)
    _record(batched, Batch(batched, size=size), found)

    assert batched.encode() == one_by_one.encode()


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b"]), st.floats(0, 30), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.floats(0, 30), max_size=2),
    st.lists(st.floats(-1, 40), max_size=50),
)
def test_phase_members_agree_with_phases_at(
    starts: dict[str, float], ends: dict[str, float], times: list[float]
) -> None:
    clock = PhaseClock(["a", "b"])
    for name, t in starts.items():
        clock.started(name, t)
    for name, t in ends.items():
        if name in starts:
            clock.ended(name, max(t, starts[name]))
    at = np.array(times, dtype=np.float64)

    for phase in clock.phase_names():
        expected = [phase in clock.phases_at(t) for t in times]
        assert clock.members(phase, at).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-0.01, max_value=5.0), max_size=200))
def test_lags_recorded_at_once_match_one_by_one(lags: list[float]) -> None:
    one_by_one, at_once = GeneratorStats(), GeneratorStats()

    for lag in lags:
        one_by_one.record_lag(lag)
    at_once.record_lags(np.array(lags, dtype=np.float64))

    assert at_once.late == one_by_one.late
    assert list(at_once.lag.counts) == list(one_by_one.lag.counts)
    assert at_once.lag.get_max_value() == one_by_one.lag.get_max_value()
