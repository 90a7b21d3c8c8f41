"""The run's live progress line: whole answers with the scoring endpoint's queue and in-flight
gauges as before; streams with their time to first token and tokens; an LLM endpoint's running
and waiting sequences in place of the gauges it does not fill; and the runner reading those
sequences from what the sampler charted."""

from __future__ import annotations

import io

from rich.console import Console

from harness.loadgen.histograms import Bucket
from harness.loadgen.live import LiveProgress, Sequences, progress_line
from harness.loadgen.streams import StreamTimes
from harness.run.runner import _sequences
from harness.run.sampler import chart_reading, read_endpoint
from harness.run.series import RunSeries


def _second(requests: int = 3, errors: int = 0) -> Bucket:
    """One second of whole answers, each 1 ms (exact at the timeline's precision)."""
    bucket = Bucket(second=4)
    for n in range(requests):
        bucket.add(0.001, 0.001, 503 if n < errors else 200, None)
    return bucket


def _streams(ttft_s: float, tokens: int) -> Bucket:
    """Four streams of one second, each its first token after ``ttft_s`` and ``tokens`` tokens."""
    bucket = _second(4)
    for _ in range(4):
        gaps = (0.025,) * (tokens - 1)
        total = ttft_s + sum(gaps)
        bucket.add_stream(StreamTimes(ttft_s, ttft_s, gaps, tokens, True, total), good=True)
    return bucket


def test_whole_answers_show_queue_and_in_flight_as_before() -> None:
    bucket = _second(3, errors=1)
    bucket.sample(queue_depth=2, inflight=5)

    line = progress_line(5.02, 12, bucket)

    assert line == "t=  5.0/12s  rate 3/s  p99 1.0 ms  errors 1  queue 2  in-flight 5"
    assert progress_line(5.02, 12, _second()).endswith("  queue -  in-flight -")
    assert progress_line(1.0, 12, None) == "t=  1.0/12s  waiting for responses"
    assert progress_line(1.0, 12, Bucket()) == "t=  1.0/12s  waiting for responses"


def test_streams_show_time_to_first_token_and_tokens() -> None:
    line = progress_line(6.0, 12, _streams(0.48, tokens=16))

    assert line.startswith("t=  6.0/12s  rate 4/s  ttft p99 480.")
    assert " ms  tokens 64  errors 0  queue -  in-flight -" in line
    assert " p99 1.0 ms" not in line


def test_streams_cut_before_their_first_token_show_no_ttft() -> None:
    bucket = _second(2)
    bucket.add_stream(StreamTimes(None, None, (), 0, False, 0.3), good=False)

    line = progress_line(3.0, 12, bucket)

    assert "  ttft p99 -  tokens 0  errors 0" in line


def test_an_llm_endpoint_shows_running_and_waiting_sequences_instead_of_queue() -> None:
    line = progress_line(7.0, 12, _streams(0.9, tokens=16), Sequences(running=4, waiting=7))

    assert line.endswith("  tokens 64  errors 0  seqs 4 run 7 wait")
    assert "queue" not in line
    assert "in-flight" not in line
    # While nothing has come back the queue is what there is to see.
    waiting = progress_line(8.0, 12, None, Sequences(running=4, waiting=9))
    assert waiting == "t=  8.0/12s  waiting for responses  seqs 4 run 9 wait"
    unread = progress_line(8.0, 12, _second(), Sequences(running=None, waiting=2))
    assert unread.endswith("  p99 1.0 ms  errors 0  seqs - run 2 wait")


def test_the_line_stays_short() -> None:
    line = progress_line(123.4, 600, _streams(1.4806, tokens=48), Sequences(16, 40))

    assert len(line) <= 90, line


def test_the_runner_reads_the_sequences_the_sampler_charted() -> None:
    series = RunSeries()
    text = (
        "# TYPE serving_llm_running_sequences gauge\nserving_llm_running_sequences 3\n"
        "# TYPE serving_llm_waiting_sequences gauge\nserving_llm_waiting_sequences {w}\n"
        "# TYPE serving_llm_kv_cache_used_tokens gauge\nserving_llm_kv_cache_used_tokens 148\n"
    )
    for t, waiting in ((4.1, 2), (4.6, 5), (5.2, 1)):
        chart_reading(read_endpoint(text.format(w=waiting)), t, 0.25, series)

    assert _sequences(series, 4) == Sequences(running=3, waiting=5)
    assert _sequences(series, 5) == Sequences(running=3, waiting=1)
    assert _sequences(series, 6) == Sequences(running=None, waiting=None)
    assert _sequences(RunSeries(), 4) is None


def test_live_progress_prints_a_line_per_call_in_logs() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)

    with LiveProgress(console, 12) as progress:
        progress(2.0, _second())
        progress(3.0, _second(), Sequences(running=1, waiting=0))

    assert out.getvalue().splitlines() == [
        "t=  2.0/12s  rate 3/s  p99 1.0 ms  errors 0  queue -  in-flight -",
        "t=  3.0/12s  rate 3/s  p99 1.0 ms  errors 0  seqs 1 run 0 wait",
    ]
