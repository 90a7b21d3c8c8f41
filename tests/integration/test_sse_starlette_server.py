"""Stream faults on the endpoint hop reach a team's own streaming server built on sse-starlette
(from PyPI), whose events end in ``\\r\\n\\r\\n`` rather than ``\\n\\n``: each fault shows in its
window and is gone after it. Process backend, all on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sse_starlette import ServerSentEvent

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from harness.verdict.results import RunResult

pytestmark = pytest.mark.integration

SERVER = Path(__file__).with_name("sse_starlette_server.py")
STALL_MS = 400
ASK = {"messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 10}
SCENARIO = f"""\
name: sse-starlette-stream-faults
target:
  command: ["{{python}}", "{SERVER}"]
  invocations_path: /v1/chat/completions
load:
  rate: 10
  duration_s: 9
  timeout_s: 3
  stream: true
  body: '{json.dumps(ASK)}'
faults:
  - {{name: stall, type: stream, target: endpoint, start_s: 1, duration_s: 1.5,
     attributes: {{action: stall, after_events: 3, stall_ms: {STALL_MS}}}}}
  - {{name: cut, type: stream, target: endpoint, start_s: 3.5, duration_s: 1.5,
     attributes: {{action: cut, after_events: 3}}}}
  - {{name: slow, type: stream, target: endpoint, start_s: 6, duration_s: 1.5,
     attributes: {{action: slow, after_events: 3, events_per_s: 10}}}}
"""


def _value(result: RunResult, phase: str, metric: str) -> float:
    found = result.phases[phase].value(metric)
    assert found is not None, (phase, metric)
    return found


def test_stream_faults_reach_a_server_whose_events_end_in_crlf() -> None:
    # What makes this server differ from the reference endpoint's LLM mode.
    assert ServerSentEvent(data="x").encode().endswith(b"\r\n\r\n")

    result = run_scenario(parse_scenario(SCENARIO), backend="process")

    stall, cut, slow = (result.phases[f"during:{name}"] for name in ("stall", "cut", "slow"))
    # A stall: every stream waits once after its 3rd event, then ends whole.
    assert stall.requests > 0
    assert stall.errors == 0
    assert _value(result, "during:stall", "itl_p99_ms") >= STALL_MS * 0.9
    # A cut after 3 events. (The layer switches a fault on its own clock as each call arrives,
    # phases go by intended start: the one call at a window's edge may fall either side.)
    assert cut.requests > 0
    assert _value(result, "during:cut", "cut_streams") >= cut.requests - 1
    # Slowed to 10 events/s after the 3rd: most gaps are 100 ms, not the server's 20.
    assert slow.errors == 0
    assert _value(result, "during:slow", "itl_p50_ms") == pytest.approx(100, rel=0.15)
    hop = result.endpoint_hop
    assert hop is not None
    assert hop["faults_injected"]["stream"] >= stall.requests + cut.requests + slow.requests - 3
    # Before and after: whole streams at the server's pace (p90: an edge call may be caught).
    for phase in ("baseline", "recovery"):
        assert result.phases[phase].errors <= 1, phase
        assert _value(result, phase, "cut_streams") <= 1, phase
        assert _value(result, phase, "itl_p90_ms") < 50, phase
