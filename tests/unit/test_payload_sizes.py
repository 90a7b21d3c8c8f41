"""Request and response body sizes: recorded per phase from known bodies, summarised as p50, p99
and max bytes, carried through batches, encodings and merges, and judged by the four size
budgets (request_bytes_p50/p99, response_bytes_p50/p99)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence

import numpy as np
import pytest

from harness.errors import ScenarioError
from harness.loadgen.batch import Batch
from harness.loadgen.histograms import Tally, new_size_histogram, record_bytes, record_many
from harness.loadgen.recorder import Recorder
from harness.run.phases import PhaseClock
from harness.scenario import parse_scenario
from harness.scenario.budgets import PLAIN_METRICS, Budget, judged_mid_run, size_metric_of
from harness.verdict.budgets import BudgetResult, evaluate
from harness.verdict.phases import PhaseStats, phase_stats
from harness.verdict.results import judge

SIZE_METRICS = (
    "request_bytes_p50",
    "request_bytes_p99",
    "response_bytes_p50",
    "response_bytes_p99",
)


def _clock() -> PhaseClock:
    clock = PhaseClock(["big"])
    clock.started("big", 1.0)
    clock.ended("big", 2.0)
    return clock


def _record(sink: Recorder | Batch, sizes: Sequence[tuple[float, int | None, int | None]]) -> None:
    """One request per (intended, request bytes, response bytes), answered 200 after 5 ms."""
    for intended, sent_bytes, got_bytes in sizes:
        sink.offered(intended)
        sink.completed(
            intended,
            intended,
            intended + 0.005,
            status=200,
            failure=None,
            request_bytes=sent_bytes,
            response_bytes=got_bytes,
        )
    if isinstance(sink, Batch):
        sink.flush()


# 100 requests in the first second: bodies of 1..100 bytes, answers 10x as large; 10 in the
# second, during "big": 5000-byte bodies, 1 MiB answers.
KNOWN = [(i / 100, i + 1, 10 * (i + 1)) for i in range(100)] + [
    (1.0 + i / 10, 5000, 1 << 20) for i in range(10)
]


def test_known_bodies_give_known_percentiles_per_phase() -> None:
    recorder = Recorder(_clock())
    _record(recorder, KNOWN)
    phases = phase_stats(recorder, 3.0)

    baseline, big, overall = phases["baseline"], phases["during:big"], phases["overall"]
    assert baseline.summary()["request_bytes"] == {"p50": 50, "p99": 99, "max": 100}
    assert baseline.summary()["response_bytes"] == {"p50": 500, "p99": 990, "max": 1000}
    # Above 2048 the histogram keeps 3 digits; the exact max bounds a bucket's upper edge.
    assert big.summary()["request_bytes"] == {"p50": 5000, "p99": 5000, "max": 5000}
    assert big.summary()["response_bytes"] == {"p50": 1 << 20, "p99": 1 << 20, "max": 1 << 20}
    # 110 requests: the 55th smallest is 55 bytes, the 109th is one of the 5000-byte ones.
    assert overall.summary()["request_bytes"] == {"p50": 55, "p99": 5000, "max": 5000}
    assert overall.value("request_bytes_p50") == 55
    assert overall.value("response_bytes_p99") == 1 << 20
    assert big.value("client.request_bytes_p99") == 5000


def test_sizes_of_any_magnitude_are_within_a_tenth_of_a_percent() -> None:
    tally = Tally()
    for size in (3_000, 70_000, 9_999_999):
        tally.add(0.01, 0.01, 200, None, request_bytes=size, response_bytes=size)
    summary = tally.request_bytes()

    assert summary is not None
    assert summary["max"] == 9_999_999
    assert summary["p50"] == pytest.approx(70_000, rel=1e-3)
    assert summary["p50"] >= 70_000


def test_an_empty_body_is_zero_bytes_not_unknown() -> None:
    tally = Tally()
    tally.add(0.01, 0.01, 200, None, request_bytes=0, response_bytes=0)

    assert tally.request_bytes() == {"p50": 0, "p99": 0, "max": 0}
    assert tally.response_bytes() == {"p50": 0, "p99": 0, "max": 0}


def test_unknown_sizes_record_nothing_and_summarise_as_none() -> None:
    recorder = Recorder()
    # A transport failure: the request went out, no answer came back.
    recorder.completed(0.1, 0.1, 0.2, status=None, failure="timeout", request_bytes=42)
    # A client under test's call: no size known either way.
    recorder.completed(0.2, 0.2, 0.3, status=200, failure=None)
    summary = phase_stats(recorder, 1.0)["overall"].summary()

    assert summary["request_bytes"] == {"p50": 42, "p99": 42, "max": 42}
    assert summary["response_bytes"] is None
    assert Recorder().phases["overall"].request_bytes() is None
    assert json.loads(json.dumps(summary))["response_bytes"] is None


def test_seconds_of_the_timeline_hold_no_size_histograms() -> None:
    recorder = Recorder()
    _record(recorder, KNOWN[:5])

    assert recorder.buckets[0].request_sizes is None
    assert recorder.phases["overall"].request_sizes is not None


def test_fast_size_recording_matches_hdrh() -> None:
    values = [0, 1, 7, 2047, 2048, 2049, 123_456, 5_000_000, (1 << 30) + 5, -3]
    theirs, ours, at_once = new_size_histogram(), new_size_histogram(), new_size_histogram()

    for value in values:
        theirs.record_value(min(max(value, 0), 1 << 30))
        record_bytes(ours, value)
    record_many(at_once, np.array(values, dtype=np.int64), sizes=True)

    for found in (ours, at_once):
        assert list(found.counts) == list(theirs.counts)
        assert (found.total_count, found.min_value, found.max_value) == (
            theirs.total_count,
            theirs.min_value,
            theirs.max_value,
        )


def test_a_batch_records_the_sizes_recording_each_request_records() -> None:
    mixed = [
        (t, None if i % 7 == 0 else s, None if i % 5 == 0 else r)
        for i, (t, s, r) in enumerate(KNOWN)
    ]
    one_by_one, batched = Recorder(_clock()), Recorder(_clock())

    _record(one_by_one, mixed)
    _record(Batch(batched, size=16), mixed)

    assert batched.encode() == one_by_one.encode()
    overall = batched.phases["overall"]
    assert overall.request_sizes is not None
    assert overall.response_sizes is not None
    assert overall.request_sizes.total_count == sum(1 for _, s, _ in mixed if s is not None)
    assert overall.response_sizes.total_count == sum(1 for _, _, r in mixed if r is not None)


def test_sizes_survive_encoding_and_merging_across_recorders() -> None:
    parts = [Recorder(_clock()), Recorder(_clock())]
    _record(parts[0], KNOWN[::2])
    _record(parts[1], KNOWN[1::2])
    whole, merged = Recorder(_clock()), Recorder(_clock())
    _record(whole, KNOWN)

    for part in parts:
        # As worker processes hand them over: pickled.
        merged.merge_encoded(pickle.loads(pickle.dumps(part.encode())))

    for name in ("overall", "baseline", "during:big"):
        assert merged.phases[name].request_bytes() == whole.phases[name].request_bytes()
        assert merged.phases[name].response_bytes() == whole.phases[name].response_bytes()
    # A snapshot (what mid-run budgets read) copies the sizes too.
    assert (
        merged.phase_snapshot("overall").response_bytes()
        == whole.phases["overall"].response_bytes()
    )
    assert merged.phases["overall"].response_bytes() == {"p50": 550, "p99": 1 << 20, "max": 1 << 20}


def test_an_exact_max_above_the_bucket_edge_survives_a_merge() -> None:
    # 2_000_001 lies in a bucket 1024 wide; hdrh alone would report its upper edge.
    part = Tally()
    part.add(0.01, 0.01, 200, None, response_bytes=2_000_001)
    merged = Tally()

    merged.merge_encoded(part.encode())
    merged.merge(part)

    assert merged.response_bytes() == {"p50": 2_000_001, "p99": 2_000_001, "max": 2_000_001}


def _phase(recorder: Recorder, name: str = "overall") -> PhaseStats:
    return phase_stats(recorder, 3.0)[name]


@pytest.mark.parametrize(
    ("expression", "phase", "observed", "passed"),
    [
        ("request_bytes_p50 <= 50", "baseline", 50, True),
        ("request_bytes_p50 < 50", "baseline", 50, False),
        ("request_bytes_p99 < 4096", "overall", 5000, False),
        ("request_bytes_p99 < 4096", "baseline", 99, True),
        ("response_bytes_p50 <= 1024", "baseline", 500, True),
        ("response_bytes_p50 < 1048576", "during:big", 1 << 20, False),
        ("response_bytes_p99 <= 1048576", "during:big", 1 << 20, True),
        ("response_bytes_p99 < 1000", "baseline", 990, True),
        ("response_bytes_p99 < 990", "baseline", 990, False),
    ],
)
def test_size_budgets_pass_and_fail_on_what_was_recorded(
    expression: str, phase: str, observed: int, passed: bool
) -> None:
    recorder = Recorder(_clock())
    _record(recorder, KNOWN)
    budget = Budget.parse(expression, phase=phase)

    (result,) = judge((budget,), phase_stats(recorder, 3.0))

    assert result == BudgetResult(budget, observed, passed)


@pytest.mark.parametrize("metric", SIZE_METRICS)
def test_a_size_budget_on_sizes_nobody_recorded_was_not_measured(metric: str) -> None:
    recorder = Recorder()
    recorder.completed(0.1, 0.1, 0.2, status=200, failure=None)
    budget = Budget.parse(f"{metric} < 1000")

    result = evaluate(budget, _phase(recorder))

    assert not result.passed
    assert result.observed is None
    which = metric.split("_")[0]
    assert (
        result.note
        == f"{metric} was not measured: no {which} body size was recorded in phase overall"
    )


def test_a_client_size_budget_that_nobody_measured_says_so() -> None:
    recorder = Recorder()
    recorder.completed(0.1, 0.1, 0.2, status=200, failure=None)
    budget = Budget.parse("client.response_bytes_p99 < 1000")

    result = evaluate(budget, _phase(recorder))

    assert (result.passed, result.observed) == (False, None)
    assert result.note.startswith("client.response_bytes_p99 was not measured")


def test_the_size_metrics_are_plain_per_request_metrics() -> None:
    assert set(SIZE_METRICS) <= PLAIN_METRICS
    assert all(judged_mid_run(metric) for metric in SIZE_METRICS)
    assert size_metric_of("request_bytes_p99") == ("request", "p99")
    assert size_metric_of("response_bytes_p50") == ("response", "p50")
    assert size_metric_of("p99_ms") is None
    assert size_metric_of("response_bytes_p90") is None


def test_a_scenario_states_size_budgets_like_any_other() -> None:
    scenario = parse_scenario(
        "name: sizes\nload: {rate: 10, duration_s: 4}\nbudgets:\n"
        "  - request_bytes_p99 < 4096\n"
        "  - {expect: response_bytes_p50 <= 65536, abort_on_fail: true}\n"
        "  - client.request_bytes_p50 < 100\n"
    )

    request, response, client = scenario.budgets
    assert request == Budget("request_bytes_p99", "<", 4096.0)
    assert response == Budget("response_bytes_p50", "<=", 65536.0, abort_on_fail=True)
    assert client.metric == "client.request_bytes_p50"


def test_a_size_metric_that_does_not_exist_is_refused_naming_the_ones_that_do() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(
            "name: sizes\nload: {rate: 10, duration_s: 4}\nbudgets:\n  - request_bytes_p90 < 10\n"
        )

    assert "request_bytes_p99" in str(info.value)
    assert "'request_bytes_p90'" in str(info.value)
