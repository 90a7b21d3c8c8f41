"""Streamed answers read event by event: tokens, gaps, how a stream ended, the objectives of
goodput, and the tallies and budget metrics they feed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.loadgen.histograms import Floats, Mask, StreamTally, Tally
from harness.loadgen.recorder import Recorder, timeline_row
from harness.loadgen.streams import StreamBuffer, StreamReader, StreamSlo, StreamTimes
from harness.scenario.budgets import canonical_metric
from harness.verdict.phases import PhaseStats


def _chat(text: str, *, finish: str | None = None, usage: int | None = None) -> bytes:
    chunk: dict[str, object] = {
        "object": "chat.completion.chunk",
        "choices": [
            {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
        ],
    }
    if usage is not None:
        chunk["usage"] = {"completion_tokens": usage}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


STREAM = [
    _chat("Hello"),
    _chat(" there"),
    _chat(" friend"),
    _chat("", finish="stop"),
    b"data: [DONE]\n\n",
]


def test_tokens_are_timed_from_the_intended_start_and_the_end_is_seen() -> None:
    reader = StreamReader(intended=10.0)
    for n, event in enumerate(STREAM):
        reader.feed(event, 10.1 + 0.02 * n)

    times = reader.times()

    assert times.first_token_s == pytest.approx(0.1)
    assert times.gaps_s == pytest.approx((0.02, 0.02))
    assert times.tokens == 3
    assert times.complete
    assert times.total_s == pytest.approx(0.18)
    # (last byte - first token) / (tokens - 1)
    assert times.tpot_s == pytest.approx(0.04)


@given(cuts=st.lists(st.integers(1, 400), max_size=8))
def test_events_split_anywhere_read_the_same(cuts: list[int]) -> None:
    body = b"".join(STREAM).replace(b"\n\n", b"\r\n\r\n", 1)
    reader = StreamReader(intended=0.0)
    at = 0
    for cut in sorted(set(cuts)):
        reader.feed(body[at:cut], 1.0)
        at = max(at, cut)
    reader.feed(body[at:], 1.0)

    times = reader.times()

    assert (times.tokens, times.complete, len(times.gaps_s)) == (3, True, 2)
    assert reader.bytes == len(body)


def test_a_stream_without_done_or_a_final_event_was_cut() -> None:
    reader = StreamReader(intended=0.0)
    reader.feed(_chat("a") + _chat("b"), 0.5)

    assert not reader.times().complete


def test_completions_text_counts_and_usage_gives_the_token_count() -> None:
    reader = StreamReader(intended=0.0)
    one = {"choices": [{"text": "two words", "finish_reason": None}]}
    last = {"choices": [{"text": "", "finish_reason": "length"}], "usage": {"completion_tokens": 5}}
    reader.feed(b"data: " + json.dumps(one).encode() + b"\n\n", 0.2)
    reader.feed(b"data: " + json.dumps(last).encode() + b"\n\n", 0.3)

    times = reader.times()

    assert times.tokens == 5
    assert times.complete
    assert times.first_token_s == pytest.approx(0.2)


def test_comments_and_garbage_events_are_not_tokens_and_garbage_is_counted() -> None:
    reader = StreamReader(intended=0.0)
    reader.feed(b": keep-alive\n\ndata: not json\n\ndata: [1, 2]\n\n", 0.1)

    assert reader.times().tokens == 0
    assert reader.times().first_token_s is None
    # A comment is fine; data that is not a JSON object is malformed.
    assert reader.times().malformed == 2


def _times(first: float | None, total: float, tokens: int, complete: bool = True) -> StreamTimes:
    return StreamTimes(None, first, (), tokens, complete, total)


def test_goodput_objectives_judge_only_what_is_given() -> None:
    quick = _times(0.1, 1.1, 11)  # TPOT 100 ms
    assert StreamSlo().met(quick)
    assert StreamSlo(ttft_ms=200, tpot_ms=100, e2e_ms=1200).met(quick)
    assert not StreamSlo(ttft_ms=50).met(quick)
    assert not StreamSlo(tpot_ms=99).met(quick)
    assert not StreamSlo(e2e_ms=1000).met(quick)
    assert not StreamSlo().met(_times(0.1, 1.1, 11, complete=False))
    # No second token: no TPOT to judge, so an objective on it is not met.
    assert not StreamSlo(tpot_ms=100).met(_times(0.1, 0.1, 1))


def test_stream_tallies_merge_and_travel_encoded_exactly() -> None:
    one, two = Tally(), Tally()
    one.add_stream(StreamTimes(0.01, 0.1, (0.02, 0.03), 3, True, 0.2, malformed=1), good=True)
    two.add_stream(StreamTimes(0.01, 0.3, (0.05,), 2, False, 0.4), good=False)
    merged = Tally()
    merged.merge(one)
    merged.merge(two)
    travelled = Tally()
    travelled.merge_encoded(one.encode())
    travelled.merge_encoded(two.encode())

    for tally in (merged, travelled):
        assert tally.stream is not None
        assert tally.stream.summary()["streams"] == 2
        assert tally.stream.summary()["cut"] == 1
        assert tally.stream.tokens == 5
        assert tally.stream.good == 1
        assert tally.stream.summary()["malformed_events"] == 1
        assert tally.stream.percentile_ms("ttft", 100) == pytest.approx(300, rel=0.001)
        assert tally.stream.percentile_ms("itl", 100) == pytest.approx(50, rel=0.001)


def test_phase_metrics_and_budget_names_of_streams() -> None:
    recorder = Recorder()
    for n in range(10):
        recorder.completed(n * 0.1, n * 0.1, n * 0.1 + 0.5, status=200, failure=None)
        times = StreamTimes(0.01, 0.05 + 0.01 * n, (0.02,) * 4, 5, True, 0.5)
        recorder.streamed(n * 0.1, times, good=n < 8)
    phase = PhaseStats("overall", recorder.phases["overall"], 0.0, 2.0)

    assert phase.value("ttft_p50_ms") == pytest.approx(90, rel=0.01)
    assert phase.value("ttfb_p99_ms") == pytest.approx(10, rel=0.01)
    assert phase.value("itl_p99_ms") == pytest.approx(20, rel=0.01)
    assert phase.value("tokens_per_s") == 25.0
    assert phase.value("goodput") == 0.8
    assert phase.value("cut_streams") == 0
    assert phase.summary()["stream"]["tokens"] == 50
    assert [
        canonical_metric(m) for m in ("ttfb_p90_ms", "ttft_p99_ms", "itl_p50_ms", "goodput")
    ] == [
        "ttfb_p90_ms",
        "ttft_p99_ms",
        "itl_p50_ms",
        "goodput",
    ]
    with pytest.raises(ValueError, match="ttft_pNN_ms"):
        canonical_metric("ttft_ms")


def test_a_run_of_whole_answers_has_no_stream_metrics() -> None:
    recorder = Recorder()
    recorder.completed(0.0, 0.0, 0.1, status=200, failure=None)
    phase = PhaseStats("overall", recorder.phases["overall"], 0.0, 1.0)

    assert phase.value("ttft_p99_ms") is None
    assert phase.value("goodput") is None
    assert phase.summary()["stream"] is None


def test_each_second_of_the_timeline_shows_its_streams() -> None:
    recorder = Recorder()
    recorder.completed(0.5, 0.5, 0.9, status=200, failure=None)
    recorder.streamed(0.5, StreamTimes(0.01, 0.1, (0.02, 0.02), 3, True, 0.4), good=True)
    recorder.completed(1.5, 1.5, 1.6, status=200, failure=None)

    rows = [timeline_row(bucket) for bucket in recorder.seconds()]

    assert rows[0]["tokens"] == 3
    assert rows[0]["ttft_p99_ms"] == pytest.approx(100, rel=0.01)
    assert "tokens" not in rows[1]


_seconds = st.floats(0.0, 5.0, allow_nan=False)
_stream_times = st.builds(
    StreamTimes,
    first_byte_s=st.none() | _seconds,
    first_token_s=st.none() | _seconds,
    gaps_s=st.lists(st.floats(0.0, 0.5), max_size=6).map(tuple),
    tokens=st.integers(0, 40),
    complete=st.booleans(),
    total_s=_seconds,
    malformed=st.integers(0, 3),
)


class _LateHalf:
    """Phases ``overall`` and ``late`` (from 1.5 s on), so a batch splits across phases."""

    def phase_names(self) -> list[str]:
        return ["overall", "late"]

    def phases_at(self, t: float) -> list[str]:
        return ["overall", "late"] if t >= 1.5 else ["overall"]

    def members(self, phase: str, t: Floats) -> Mask:
        return np.full(len(t), True) if phase == "overall" else t >= 1.5

    def spans(self, run_s: float) -> dict[str, tuple[float, float]]:
        return {"overall": (0.0, run_s), "late": (1.5, run_s)}


@given(
    streams=st.lists(
        st.tuples(st.floats(0.0, 3.0), _stream_times, st.booleans()), min_size=1, max_size=30
    )
)
def test_streams_recorded_as_arrays_are_recorded_as_one_at_a_time(
    streams: list[tuple[float, StreamTimes, bool]],
) -> None:
    one, many = Recorder(_LateHalf()), Recorder(_LateHalf())
    buffer = StreamBuffer()
    for intended, times, good in streams:
        one.streamed(intended, times, good)
        buffer.add(intended, times, good)

    many.streamed_many(*buffer.take())

    assert many.encode() == one.encode()
    assert len(buffer) == 0


@given(
    rows=st.lists(st.tuples(_stream_times, st.sampled_from([200, 302, 404, 503, -1])), min_size=1),
    ttft=st.none() | st.floats(1, 5000),
    tpot=st.none() | st.floats(1, 500),
    e2e=st.none() | st.floats(1, 5000),
)
def test_goodput_of_arrays_is_what_each_stream_meeting_its_slo_says(
    rows: list[tuple[StreamTimes, int]],
    ttft: float | None,
    tpot: float | None,
    e2e: float | None,
) -> None:
    slo = StreamSlo(ttft_ms=ttft, tpot_ms=tpot, e2e_ms=e2e)
    buffer = StreamBuffer()
    for times, _ in rows:
        buffer.add(0.0, times, good=False)
    _, streams, _ = buffer.take()
    codes = np.array([code for _, code in rows], dtype=np.int64)

    judged = streams.good(codes, slo).tolist()

    assert judged == [0 <= code < 400 and slo.met(times) for times, code in rows]
    assert list(streams.each()) == [times for times, _ in rows]


def test_a_tally_encoded_before_it_kept_time_to_first_byte_decodes_with_none() -> None:
    tally = StreamTally()
    tally.add(StreamTimes(0.05, 0.1, (0.02,), 2, True, 0.12), good=True)
    encoded = tally.encode()
    del encoded["ttfb"], encoded["ttfb_max_us"]

    decoded = StreamTally.decode(encoded)

    assert decoded.percentile_ms("ttfb", 50) is None
    assert decoded.percentile_ms("ttft", 50) == pytest.approx(100, rel=0.01)
    assert tally.percentile_ms("ttfb", 50) == pytest.approx(50, rel=0.01)
