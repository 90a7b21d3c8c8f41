"""`serving-chaos load --stream` against the reference endpoint's LLM mode, as a user points it
at their own OpenAI-compatible endpoint: time to first token and the gaps between tokens are
what the endpoint's settings imply, every token is counted, goodput follows the objective, and
two worker processes' stream tallies merge into one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.loadgen.lengths import FixedLength, SampledLength
from harness.loadgen.llm_requests import LlmRequests
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady

pytestmark = pytest.mark.integration

PREFILL_MS_PER_TOKEN = 3.0
DECODE_TOKENS_PER_S = 40.0
PROMPT_TOKENS = 100
ANSWER_TOKENS = (8, 16)
RATE, DURATION_S = 10, 2
# An answer of 8 tokens ends 300 + 7 x 25 = 475 ms after its start, one of 16 at 675 ms: the
# objective splits them.
E2E_SLO_MS = 575
# Stated slack of the timing checks: the median within 10 % of what the settings imply, p90
# within 15 % (a busy machine delays the odd event).
SLACK_P50, SLACK_P90 = 0.10, 0.15


def test_a_streamed_llm_load_measures_first_token_gaps_tokens_and_goodput(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    endpoint = [
        *(sys.executable, "-m", "harness.cli", "endpoint", "--host", LOOPBACK),
        *("--port", str(port), "--llm", "--max-sequences", "64"),
        *("--prefill-ms-per-token", str(PREFILL_MS_PER_TOKEN)),
        *("--decode-tokens-per-s", str(DECODE_TOKENS_PER_S)),
    ]
    out = tmp_path / "load.json"
    load = [
        *("load", "--url", f"{base}/v1/chat/completions", "--stream", "--quiet"),
        *("--rate", str(RATE), "--duration", str(DURATION_S), "--workers", "2"),
        *("--llm-prompt-tokens", str(PROMPT_TOKENS)),
        *("--llm-max-tokens", ",".join(map(str, ANSWER_TOKENS)), "--llm-model", "m"),
        *("--slo-e2e-ms", str(E2E_SLO_MS), "--json", str(out)),
    ]
    with running(ChildProcess("llm-endpoint", endpoint), HttpReady(f"{base}/health"), tmp_path):
        code = main(load)

    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    stream = data["stream"]
    report = json.dumps({"stream": stream, "notes": data["notes"]}, indent=1)
    assert code == 0, report
    assert data["workers"] == 2
    requests = RATE * DURATION_S
    assert data["requests"] == requests
    assert data["statuses"] == {"200": requests}
    # Both workers' streams, merged: request i was sent body i, whose max_tokens is known.
    same = LlmRequests(
        prompt_tokens=FixedLength(PROMPT_TOKENS),
        max_tokens=SampledLength(ANSWER_TOKENS),
        model="m",
    )
    answers = [same.request(i, stream=True)["max_tokens"] for i in range(requests)]
    assert (stream["streams"], stream["complete"], stream["cut"]) == (requests, requests, 0)
    assert stream["tokens"] == sum(answers), report
    assert stream["tokens_per_s"] == pytest.approx(sum(answers) / DURATION_S, rel=0.01)
    good = answers.count(min(ANSWER_TOKENS))
    assert 0 < good < requests
    assert stream["good"] == good, report
    assert stream["goodput"] == pytest.approx(good / requests, abs=1e-6)
    assert stream["slo"] == {"e2e_ms": E2E_SLO_MS}
    ttft_ms = PROMPT_TOKENS * PREFILL_MS_PER_TOKEN
    gap_ms = 1000 / DECODE_TOKENS_PER_S
    # The endpoint's body starts with its first token: the first byte comes with it.
    expectations = (
        ("ttfb_ms", ttft_ms),
        ("ttft_ms", ttft_ms),
        ("itl_ms", gap_ms),
        ("tpot_ms", gap_ms),
    )
    for which, expected in expectations:
        assert stream[which]["p50"] == pytest.approx(expected, rel=SLACK_P50), report
        assert stream[which]["p90"] == pytest.approx(expected, rel=SLACK_P90), report
    assert f"streams {requests}  complete {requests}  cut 0  tokens {sum(answers)}" in printed
    assert "stream TTFB p50" in printed
    assert "TTFT p50" in printed
