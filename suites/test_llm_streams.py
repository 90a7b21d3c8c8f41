"""The streaming endpoint's behaviours the shipped LLM scenarios stand for, each run once and
checked for what it shows, not only for its budgets:

- ``llm_long_prompts``: a burst of long prompts fills the KV cache while fewer sequences run
  than the endpoint allows, so new streams queue and their time to first token climbs while
  the running streams keep their inter-token pace; a later mid-stream stall breaks the ITL
  budget in its own window and nowhere else.
- ``llm_cut_restart``: a client that restarts cut streams from the start gives its users whole
  answers, and the endpoint generates the cut streams' tokens twice: ``duplicated_tokens`` is
  the tokens delivered before each cut, once per restart. A client that does not restart
  duplicates nothing and loses the cut answers instead.

test_scenarios.py leaves these scenarios to this module, so each runs once per client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from faults import HttpError
from faults.http import StreamFault
from harness.errors import BudgetViolation
from harness.plugin import ChaosRunner
from harness.verdict.results import RunResult

SCENARIOS = Path(__file__).parent / "scenarios"
LONG_PROMPTS = SCENARIOS / "llm_long_prompts.yaml"
CUT_RESTART = SCENARIOS / "llm_cut_restart.yaml"
SHOWN_HERE = frozenset({LONG_PROMPTS.stem, CUT_RESTART.stem})


def _failed(result: RunResult) -> set[tuple[str, str]]:
    return {(item.budget.expression, item.budget.phase) for item in result.failed_budgets}


def _stream(result: RunResult, phase: str) -> dict[str, Any]:
    summary: dict[str, Any] | None = result.phases[phase].summary()["stream"]
    assert summary is not None, f"phase {phase} measured no streams"
    return summary


def _during(series: list[list[float]], start_s: float, end_s: float) -> list[float]:
    """The readings of a per-second series within [start_s, end_s]."""
    return [value for second, value in series if start_s <= second <= end_s]


def test_long_prompts_fill_the_kv_cache_and_a_stall_breaks_itl_in_its_window_only(
    chaos: ChaosRunner,
) -> None:
    with pytest.raises(BudgetViolation) as raised:
        chaos.run(LONG_PROMPTS)
    assert raised.value.phase == "during:stall"
    assert raised.value.budget.metric == "itl_p99_ms"
    result: RunResult = raised.value.result
    scenario = chaos.load(LONG_PROMPTS)

    # Exactly one budget breaks: inter-token latency, in the stall's window, by the stall.
    assert _failed(result) == {("itl_p99_ms < 60", "during:stall")}
    (stall,) = (f.fault for f in scenario.faults if f.name == "stall")
    assert isinstance(stall, HttpError)
    assert isinstance(stall.faults[0], StreamFault)
    stall_ms = stall.faults[0].stall_ms
    assert _stream(result, "during:stall")["itl_ms"]["p99"] >= 0.9 * stall_ms

    # The burst: the cache fills with fewer sequences running than the endpoint allows, so
    # the cache is what holds new streams back.
    burst = result.phases["during:burst"]
    llm = result.series["llm"]
    kv_budget, sequences = scenario.endpoint.kv_cache_tokens, scenario.endpoint.max_sequences
    assert max(_during(llm["kv_cache_used_tokens"], burst.start_s, burst.end_s)) >= 0.9 * kv_budget
    assert max(_during(llm["running_sequences"], burst.start_s, burst.end_s)) < sequences
    assert max(_during(llm["waiting_sequences"], burst.start_s, burst.end_s)) > 0
    # Time to first token climbs through the queue; the running streams keep their pace.
    baseline, during = _stream(result, "baseline"), _stream(result, "during:burst")
    assert during["ttft_ms"]["p50"] > 2 * baseline["ttft_ms"]["p50"]
    assert during["ttft_ms"]["p99"] > 2 * baseline["ttft_ms"]["p99"]
    assert during["itl_ms"]["p99"] < 60
    # Every token the endpoint generated reached a caller once: nothing was cut.
    overall = _stream(result, "overall")
    assert overall["cut"] == 0
    assert overall["duplicated_tokens"] == 0
    assert overall["token_amplification"] == 1.0


def test_a_client_that_restarts_cut_streams_makes_the_endpoint_generate_them_twice(
    chaos: ChaosRunner,
) -> None:
    after_events = 16  # the scenario's cut
    restarting = chaos.run(CUT_RESTART)
    naive = chaos.run(CUT_RESTART, client="naive_stream", check=False)

    assert restarting.client is not None
    assert naive.client is not None
    # The restarting client's users get whole answers; every restart is one more request.
    restarted = restarting.client["measures"]["endpoint.requests"] - restarting.client["calls"]
    assert restarted > 0
    assert restarting.phases["overall"].errors == 0
    overall = _stream(restarting, "overall")
    assert overall["cut"] == 0
    # Each restart has the endpoint generate again the tokens delivered before its cut (a cut
    # may also throw away a token generated as it came).
    duplicated = overall["duplicated_tokens"]
    assert after_events * restarted <= duplicated <= (after_events + 1) * restarted
    assert overall["token_amplification"] == pytest.approx(
        overall["tokens_generated"] / overall["tokens"], abs=1e-4
    )
    assert overall["token_amplification"] > 1.0

    # Without restarts nothing is generated twice: the cut answers are the users' errors.
    plain = _stream(naive, "overall")
    assert plain["cut"] == naive.phases["overall"].errors > 0
    assert plain["duplicated_tokens"] <= plain["cut"]
    assert naive.client["measures"]["retry_amplification"] == 1.0
    assert _failed(naive) == {("client.error_rate < 0.05", "overall")}
