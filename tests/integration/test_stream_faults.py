"""Mid-stream faults on the endpoint hop: the HTTP fault layer stalls, cuts or never ends the
streamed answers of the reference endpoint's LLM mode, each in its own window, and the run's
stream timings show each one there and nowhere else. Process backend, all on 127.0.0.1."""

from __future__ import annotations

import pytest

from harness.loadgen.histograms import StreamTally
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

STALL_MS = 400
SCENARIO = f"""\
name: stream-faults
endpoint: {{llm: true, decode_tokens_per_s: 50, prefill_ms_per_token: 0.5, max_sequences: 64}}
load:
  rate: 10
  duration_s: 9
  timeout_s: 2
  stream: true
  body: '{{"messages": [{{"role": "user", "content": "hi"}}], "stream": true, "max_tokens": 10}}'
faults:
  - {{name: stall, type: stream, target: endpoint, start_s: 1, duration_s: 1.5,
     attributes: {{action: stall, after_events: 3, stall_ms: {STALL_MS}}}}}
  - {{name: cut, type: stream, target: endpoint, start_s: 3.5, duration_s: 1.5,
     attributes: {{action: cut, after_events: 3}}}}
  - {{name: hang, type: stream, target: endpoint, start_s: 6, duration_s: 1.5,
     attributes: {{action: no_done}}}}
"""


def test_each_mid_stream_fault_shows_in_its_window_and_is_reverted() -> None:
    result = run_scenario(parse_scenario(SCENARIO), backend="process")
    phases = result.phases

    def value(phase: str, metric: str) -> float:
        found = phases[phase].value(metric)
        assert found is not None, (phase, metric)
        return found

    stall, cut, hang = phases["during:stall"], phases["during:cut"], phases["during:hang"]
    # A stall: every stream waits once, then carries on; nothing fails.
    assert stall.errors == 0
    assert value("during:stall", "itl_p99_ms") >= STALL_MS * 0.9
    assert value("during:stall", "cut_streams") == 0
    # A cut: every stream ends part way, after its first events. (The layer switches a fault
    # on and off by its own clock as each call arrives, phases go by intended start: the one
    # call at a window's edge may fall either side.)
    assert cut.requests > 0
    assert value("during:cut", "cut_streams") >= cut.requests - 1
    assert cut.errors == value("during:cut", "cut_streams")
    # No end: every client waits until its own timeout.
    assert hang.requests > 0
    assert hang.tally.failures.get("timeout", 0) >= hang.requests - 1
    # Reverted: before and after, streams end whole at their pace. The call at a window's
    # edge may be caught: the stall's first (its 9 gaps are under a tenth of the baseline's,
    # so the pace is judged at p90), the missing end's last (it times out).
    for phase in ("baseline", "recovery"):
        assert phases[phase].errors <= 1, phase
        assert value(phase, "cut_streams") == 0
        assert value(phase, "itl_p90_ms") < STALL_MS / 4


SLOWED = """\
name: stream-slowed-and-spoilt
endpoint: {llm: true, decode_tokens_per_s: 50, prefill_ms_per_token: 0.5, max_sequences: 64}
load:
  rate: 10
  duration_s: 6
  timeout_s: 3
  stream: true
  body: '{"messages": [{"role": "user", "content": "hi"}], "stream": true, "max_tokens": 10}'
faults:
  - {name: slow, type: stream, target: endpoint, start_s: 1, duration_s: 1.5,
     attributes: {action: slow, after_events: 3, events_per_s: 10}}
  - {name: spoilt, type: stream, target: endpoint, start_s: 3.5, duration_s: 1.5,
     attributes: {action: malformed, after_events: 3}}
"""


def test_a_slowed_stream_keeps_its_pace_and_a_spoilt_event_is_counted() -> None:
    result = run_scenario(parse_scenario(SLOWED), backend="process")
    phases = result.phases

    def stream(phase: str) -> StreamTally:
        found = phases[phase].tally.stream
        assert found is not None, phase
        return found

    slow, spoilt = phases["during:slow"], phases["during:spoilt"]
    # After 3 events at the model's 20 ms, the rest at 10 events/s: most gaps are 100 ms.
    assert slow.errors == 0
    assert stream("during:slow").percentile_ms("itl", 50) == pytest.approx(100, rel=0.15)
    # One spoilt event per stream, which still ends whole.
    assert spoilt.errors == 0
    assert stream("during:spoilt").malformed >= spoilt.requests - 1
    # Reverted: the one call at a window's edge may be slowed or spoilt (as above), so the
    # pace is judged at p90 (its 6 slowed gaps are under a tenth of the phase's) and at most
    # one event is spoilt.
    for phase in ("baseline", "recovery"):
        assert phases[phase].errors == 0, phase
        assert stream(phase).malformed <= 1
        assert stream(phase).percentile_ms("itl", 90) < 50  # type: ignore[operator]
