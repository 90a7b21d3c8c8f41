"""Toxiproxy's TCP toxics on streamed answers: the real Toxiproxy between the load engine and the
reference endpoint's LLM mode, each toxic in its own window of one run. Latency on the answers
delays the first token by about that much and leaves the gaps between tokens as they were; a
slicer cuts every event into pieces of a few bytes, which the engine puts back together (no
stream cut, no event malformed, every token counted); a reset ends the streams it meets. Process
backend, all on 127.0.0.1."""

from __future__ import annotations

import pytest

from harness.loadgen.histograms import StreamTally
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario

pytestmark = pytest.mark.integration

LATENCY_MS = 150
TOKENS = 10
SCENARIO = f"""\
name: stream-toxics
endpoint: {{llm: true, decode_tokens_per_s: 50, prefill_ms_per_token: 0.5, max_sequences: 64}}
load:
  rate: 10
  duration_s: 8.5
  timeout_s: 2
  stream: true
  engine: ENGINE
  body: '{{"messages": [{{"role": "user", "content": "hi"}}], "stream": true,
          "max_tokens": {TOKENS}}}'
faults:
  - {{name: slow-link, type: latency, target: endpoint, stream: downstream, start_s: 1,
     duration_s: 1.5, attributes: {{latency: {LATENCY_MS}}}}}
  - {{name: sliced, type: slicer, target: endpoint, stream: downstream, start_s: 3.5,
     duration_s: 1.5, attributes: {{average_size: 8, size_variation: 4, delay: 50}}}}
  - {{name: reset, type: reset_peer, target: endpoint, start_s: 6, duration_s: 1,
     attributes: {{timeout: 0}}}}
"""


@pytest.mark.parametrize("engine", ["aiohttp", "native"])
def test_tcp_toxics_act_on_streams_as_on_any_bytes(engine: str) -> None:
    if engine == "native":
        pytest.importorskip("serving_chaos_native")
    result = run_scenario(parse_scenario(SCENARIO.replace("ENGINE", engine)), backend="process")
    phases = result.phases

    def stream(phase: str) -> StreamTally:
        found = phases[phase].tally.stream
        assert found is not None, phase
        return found

    def ms(phase: str, metric: str, percentile: float) -> float:
        found = stream(phase).percentile_ms(metric, percentile)
        assert found is not None, (phase, metric)
        return found

    # Latency on the answers: the first token comes about that much later, the gaps keep the
    # model's 20 ms pace (every piece of the answer is delayed alike).
    slowed = ms("during:slow-link", "ttft", 50) - ms("baseline", "ttft", 50)
    assert slowed == pytest.approx(LATENCY_MS, abs=LATENCY_MS * 0.3)
    assert ms("during:slow-link", "itl", 50) == pytest.approx(ms("baseline", "itl", 50), abs=5)
    assert phases["during:slow-link"].errors == 0
    # Sliced into pieces of a few bytes: every event is put back together.
    sliced = phases["during:sliced"]
    assert sliced.requests > 0
    assert sliced.errors == 0
    assert stream("during:sliced").malformed == 0
    assert stream("during:sliced").tokens == TOKENS * sliced.requests
    # A reset ends what it meets: the window's calls fail (one at an edge may fall outside).
    reset = phases["during:reset"]
    assert reset.requests > 0
    assert reset.errors >= reset.requests - 1
    # Removed, streams are whole again.
    for phase in ("baseline", "recovery"):
        assert phases[phase].errors == 0, phase
        assert phases[phase].value("cut_streams") == 0, phase
    assert stream("recovery").tokens == TOKENS * phases["recovery"].requests
