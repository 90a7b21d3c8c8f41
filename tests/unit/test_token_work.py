"""The endpoint's generated tokens against the tokens the callers received: the counter read
from the reference endpoint's real exposition (and vLLM's name), the measures a run's overall
phase derives from it (``token_amplification``, ``duplicated_tokens``), their budgets, judged
over the whole run only; and the LLM mode's gauges charted and counted as queue depth."""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.loadgen.recorder import Recorder
from harness.loadgen.streams import StreamTimes
from harness.run.phases import PhaseClock
from harness.run.sampler import chart_reading, queue_depth, read_endpoint
from harness.run.series import RunSeries
from harness.run.tokens import generated_between, generated_tokens
from harness.scenario import parse_scenario
from harness.scenario.budgets import Budget, judged_mid_run
from harness.servers.endpoint.admission import Admission
from harness.servers.endpoint.llm_scheduler import SequenceScheduler
from harness.servers.endpoint.metrics import EndpointMetrics
from harness.verdict.budgets import evaluate
from harness.verdict.phases import PhaseStats, phase_stats


def _llm_exposition(tokens: int, *, running: int = 0) -> str:
    """The reference endpoint's metrics in the LLM mode: ``tokens`` generated so far and
    ``running`` sequences of 300 KV-cache tokens each."""
    scheduler = SequenceScheduler(8, kv_cache_tokens=1000, max_waiting=4)
    for _ in range(running):
        assert scheduler.try_admit(300)
    metrics = EndpointMetrics(Admission(2, 4))
    metrics.watch_llm(scheduler).tokens = tokens
    return metrics.render().decode()


def test_the_reference_endpoints_counter_is_read_from_its_exposition() -> None:
    assert generated_tokens(_llm_exposition(1234)) == 1234
    assert generated_tokens(_llm_exposition(0)) == 0


def test_vllms_counter_counts_and_a_server_without_one_has_none() -> None:
    vllm = (
        "# TYPE vllm:generation_tokens_total counter\n"
        'vllm:generation_tokens_total{model_name="m"} 70.0\n'
        'vllm:generation_tokens_total{model_name="n"} 30.0\n'
    )
    assert generated_tokens(vllm) == 100
    assert generated_tokens("serving_llm_generated_tokens_total 5\n") == 5
    assert generated_tokens("http_requests_total 12\n") is None


def test_the_runs_tokens_are_the_counters_increase_when_both_readings_are_known() -> None:
    assert generated_between(100.0, 340.0) == 240.0
    assert generated_between(None, 340.0) is None
    assert generated_between(100.0, None) is None
    # The endpoint restarted mid-run: what it counted before is lost.
    assert generated_between(100.0, 40.0) is None


def _streams(*tokens: int, cut_after: int | None = None) -> Recorder:
    """A run with one stream per entry of ``tokens``, the last cut when ``cut_after``."""
    recorder = Recorder(PhaseClock([]))
    for index, count in enumerate(tokens):
        complete = cut_after is None or index < len(tokens) - 1
        times = StreamTimes(0.01, 0.02, (0.02,) * (count - 1), count, complete, 0.1)
        recorder.offered(index * 0.1)
        recorder.completed(index * 0.1, index * 0.1, index * 0.1 + 0.1, status=200, failure=None)
        recorder.streamed(index * 0.1, times, complete)
    return recorder


def test_generated_tokens_beyond_the_received_ones_are_the_duplicated_work() -> None:
    overall = phase_stats(_streams(32, 32, 32), 1.0)["overall"]
    # Two restarts of streams cut after 16 tokens: 32 tokens generated twice.
    measured = PhaseStats(overall.name, overall.tally, 0.0, 1.0, generated_tokens=96 + 32)

    assert measured.value("tokens_generated") == 128
    assert measured.value("duplicated_tokens") == 32
    assert measured.value("token_amplification") == pytest.approx(128 / 96, abs=1e-4)
    assert measured.value("client.duplicated_tokens") == 32
    stream = measured.summary()["stream"]
    assert stream["tokens"] == 96
    assert (stream["tokens_generated"], stream["duplicated_tokens"]) == (128, 32)
    assert stream["token_amplification"] == pytest.approx(1.3333, abs=1e-4)


def test_every_token_received_once_is_no_duplicated_work() -> None:
    overall = phase_stats(_streams(10, 10, 4, cut_after=4), 1.0)["overall"]
    measured = PhaseStats(overall.name, overall.tally, 0.0, 1.0, generated_tokens=24)

    assert measured.value("duplicated_tokens") == 0
    assert measured.value("token_amplification") == 1.0
    # A counter behind the received tokens (a server counting late) gives no negative work.
    lagging = PhaseStats(overall.name, overall.tally, 0.0, 1.0, generated_tokens=20)
    assert lagging.value("duplicated_tokens") == 0


def test_without_the_endpoints_count_the_measures_are_not_measured() -> None:
    overall = phase_stats(_streams(10), 1.0)["overall"]

    assert overall.value("duplicated_tokens") is None
    assert "duplicated_tokens" not in overall.summary()["stream"]
    result = evaluate(Budget.parse("token_amplification < 1.5"), overall)
    assert (result.observed, result.passed) == (None, False)
    assert "token_amplification was not measured: it needs streamed answers" in result.note


def test_the_budgets_hold_or_break_on_the_measures() -> None:
    overall = phase_stats(_streams(32, 32), 1.0)["overall"]
    measured = PhaseStats(overall.name, overall.tally, 0.0, 1.0, generated_tokens=96)

    assert evaluate(Budget.parse("token_amplification < 1.6"), measured).passed
    broken = evaluate(Budget.parse("duplicated_tokens <= 16"), measured)
    assert (broken.observed, broken.passed) == (32, False)


BUDGETED = """\
name: tokens
endpoint: {llm: true}
faults:
  - {name: cut, type: stream, target: endpoint, start_s: 1, duration_s: 1,
     attributes: {action: cut, after_events: 4}}
load: {rate: 5, duration_s: 3, stream: true, body: {prompt: hi}}
budgets:
  - %s
"""


def test_the_token_budgets_are_judged_over_the_whole_run_only() -> None:
    scenario = parse_scenario(BUDGETED % "{expect: duplicated_tokens < 100}")
    assert scenario.budgets == (Budget.parse("duplicated_tokens < 100"),)
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(BUDGETED % "{expect: token_amplification < 1.2, phase: during:cut}")
    assert raised.value.field == "budgets[0].phase"
    assert "over the whole run: expected phase overall" in str(raised.value)


def test_the_token_budgets_cannot_end_a_run_early() -> None:
    assert not judged_mid_run("duplicated_tokens")
    assert not judged_mid_run("client.token_amplification")
    with pytest.raises(ScenarioError, match="only known once the run is over"):
        parse_scenario(BUDGETED % "{expect: duplicated_tokens < 100, abort_on_fail: true}")


def test_the_llm_modes_gauges_are_charted_and_its_waiting_sequences_are_queued() -> None:
    reading = read_endpoint(_llm_exposition(50, running=3))
    assert reading.counters["generated_tokens"] == 50
    series = RunSeries()
    chart_reading(reading, 0.4, 0.25, series)
    assert series.to_json()["llm"] == {
        "running_sequences": [[0, 3]],
        "waiting_sequences": [[0, 0]],
        "kv_cache_used_tokens": [[0, 900]],
    }
    # Requests waiting for a sequence wait at the endpoint as those for a unit do.
    both = "serving_queue_depth 1\nserving_llm_waiting_sequences 2\n"
    assert queue_depth(read_endpoint(both)) == 3
    assert queue_depth(read_endpoint("serving_queue_depth 4\n")) == 4
    assert queue_depth(read_endpoint("http_requests_total 1\n")) is None
    # An endpoint without the LLM mode charts none.
    assert "llm" not in RunSeries().to_json()
