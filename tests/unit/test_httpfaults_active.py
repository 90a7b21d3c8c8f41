"""The faults active on an HTTP hop and what they decide for the next call: token buckets on an
injected clock, seeded dice, latency distributions, which fault answers, and how answers are
shaped. Pure bookkeeping: nothing here opens a socket."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.http import (
    Abort,
    Delay,
    Fixed,
    LogNormal,
    Malformed,
    RateLimit,
    SlowBody,
    Throughput,
    Uniform,
    fault_to_json,
)
from harness.servers.httpfaults import ActiveFaults, Answer, Decision
from harness.servers.httpfaults.active import CONNECTION_MALFORMED


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _answer(decision: Decision) -> Answer:
    assert decision.answer is not None, f"expected an answer but got {decision}"
    return decision.answer


def _statuses(faults: ActiveFaults, calls: int) -> list[int | None]:
    return [None if (a := faults.decide().answer) is None else a.status for _ in range(calls)]


# --- switching faults on and off ---------------------------------------------------------------


def test_no_fault_leaves_every_call_untouched() -> None:
    faults = ActiveFaults()
    assert not faults
    assert faults.decide() == Decision()
    assert faults.to_json() == {}


def test_put_remove_clear_and_to_json() -> None:
    faults = ActiveFaults()
    abort, delay = Abort(status=502), Delay(Fixed(20.0))
    faults.put("first", (abort,))
    faults.put("second", (delay,))
    assert faults
    assert faults.to_json() == {
        "first": [fault_to_json(abort)],
        "second": [fault_to_json(delay)],
    }
    # Putting a name again replaces its faults.
    faults.put("first", (Abort(status=504),))
    assert faults.to_json()["first"] == [fault_to_json(Abort(status=504))]
    assert faults.remove("first") is True
    assert faults.remove("first") is False
    assert list(faults.to_json()) == ["second"]
    faults.clear()
    assert not faults
    assert faults.decide() == Decision()


# --- rate limits -------------------------------------------------------------------------------


def test_token_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    faults = ActiveFaults(clock=clock)
    faults.put("limit", (RateLimit(rps=2.0, burst=3),))
    assert _statuses(faults, 4) == [None, None, None, 429]
    clock.now += 0.5  # one token at 2 per second
    assert _statuses(faults, 2) == [None, 429]
    clock.now += 0.25  # half a token: still limited
    assert _statuses(faults, 1) == [429]
    clock.now += 60.0  # a long pause refills the bucket up to the burst, no further
    assert _statuses(faults, 4) == [None, None, None, 429]


def test_rate_limited_answer_says_retry_after_until_the_next_token() -> None:
    clock = FakeClock()
    faults = ActiveFaults(clock=clock)
    faults.put("limit", (RateLimit(rps=0.1, burst=1),))
    assert faults.decide().answer is None
    limited = _answer(faults.decide())
    assert limited.status == 429
    headers = dict(limited.headers)
    assert headers["Retry-After"] == "10"
    assert json.loads(limited.body)["retry_after_s"] == 10
    assert faults.decide().injected == ("rate_limit",)


@given(
    rps=st.floats(min_value=0.01, max_value=10_000.0, allow_nan=False),
    burst=st.integers(min_value=1, max_value=20),
    elapsed=st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
)
def test_retry_after_is_whole_seconds_and_at_least_one(
    rps: float, burst: int, elapsed: float
) -> None:
    clock = FakeClock()
    faults = ActiveFaults(clock=clock)
    faults.put("limit", (RateLimit(rps=rps, burst=burst),))
    for _ in range(burst):
        faults.decide()
    clock.now += elapsed
    while (answer := faults.decide().answer) is None:
        pass
    retry_after = dict(answer.headers)["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) >= 1
    # Never sooner than the next token: a client that waits as told is let through (a
    # microsecond more absorbs the rounding of float seconds).
    clock.now += int(retry_after) + 1e-6
    assert faults.decide().answer is None


# --- dice --------------------------------------------------------------------------------------


@pytest.mark.parametrize("percentage", [5.0, 30.0, 50.0, 90.0])
def test_percentages_hit_about_that_share_of_calls(percentage: float) -> None:
    faults = ActiveFaults(seed=7)
    faults.put("some", (Abort(status=503, percentage=percentage),))
    hits = sum(status == 503 for status in _statuses(faults, 2000))
    expected = 2000 * percentage / 100
    spread = 4 * math.sqrt(2000 * percentage / 100 * (1 - percentage / 100))
    assert abs(hits - expected) <= spread, f"{hits} hits, expected {expected:.0f} +- {spread:.0f}"


@given(st.sampled_from([0.0, 100.0]), st.integers(min_value=0, max_value=2**32))
def test_zero_percent_never_hits_and_hundred_always_does(percentage: float, seed: int) -> None:
    faults = ActiveFaults(seed=seed)
    faults.put("edge", (Abort(status=500, percentage=percentage),))
    statuses = set(_statuses(faults, 50))
    assert statuses == ({500} if percentage == 100.0 else {None})


def test_reseeding_gives_the_same_pattern_twice() -> None:
    faults = ActiveFaults(seed=3)
    spec = (Abort(status=503, percentage=40.0), Delay(Uniform(1.0, 50.0), percentage=60.0))
    faults.put("mix", spec)
    first = [faults.decide() for _ in range(200)]
    # Any change reseeds the dice: putting the same faults again replays the same calls.
    faults.put("mix", spec)
    again = [faults.decide() for _ in range(200)]
    assert again == first
    other = ActiveFaults(seed=4)
    other.put("mix", spec)
    assert [other.decide() for _ in range(200)] != first


# --- delays ------------------------------------------------------------------------------------


def test_fixed_delay_is_exact() -> None:
    faults = ActiveFaults()
    faults.put("slow", (Delay(Fixed(250.0)),))
    assert {faults.decide().delay_s for _ in range(20)} == {0.25}


@given(
    lower=st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
    width=st.floats(min_value=0.0, max_value=1000.0, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_uniform_delay_stays_within_its_bounds(lower: float, width: float, seed: int) -> None:
    faults = ActiveFaults(seed=seed)
    faults.put("slow", (Delay(Uniform(lower, lower + width)),))
    for _ in range(50):
        delay_ms = faults.decide().delay_s * 1000.0
        assert lower - 1e-6 <= delay_ms <= lower + width + 1e-6


def test_uniform_delay_spreads_over_its_range() -> None:
    faults = ActiveFaults(seed=1)
    faults.put("slow", (Delay(Uniform(10.0, 20.0)),))
    samples = [faults.decide().delay_s for _ in range(2000)]
    assert min(samples) < 0.0105
    assert max(samples) > 0.0195
    assert statistics.mean(samples) == pytest.approx(0.015, abs=0.0005)


def test_lognormal_delay_has_the_given_median_and_a_long_tail() -> None:
    faults = ActiveFaults(seed=11)
    faults.put("tail", (Delay(LogNormal(median=100.0, sigma=0.8)),))
    samples = sorted(faults.decide().delay_s for _ in range(4000))
    assert statistics.median(samples) == pytest.approx(0.1, rel=0.08)
    # exp(2.326 * 0.8) ~ 6.4 x the median at p99.
    assert samples[int(0.99 * len(samples))] > 0.4


def test_delays_add_up_across_faults_and_named_sets() -> None:
    faults = ActiveFaults()
    faults.put("one", (Delay(Fixed(100.0)), Delay(Fixed(30.0))))
    faults.put("two", (Delay(Fixed(20.0)),))
    decision = faults.decide()
    assert decision.delay_s == pytest.approx(0.15)
    assert decision.injected == ("delay", "delay", "delay")
    assert decision.answer is None


# --- which fault answers -----------------------------------------------------------------------


def test_first_answering_fault_wins() -> None:
    faults = ActiveFaults()
    faults.put("first", (Abort(status=502), Abort(status=504)))
    faults.put("second", (Abort(status=500),))
    decision = faults.decide()
    assert _answer(decision).status == 502
    assert decision.injected == ("abort",)


def test_rate_limit_before_abort_answers_429_once_exhausted() -> None:
    faults = ActiveFaults(clock=FakeClock())
    faults.put("limit", (RateLimit(rps=1.0, burst=1), Abort(status=503, percentage=100.0)))
    # The token lets the first call past the limit, where the abort answers it.
    assert _answer(faults.decide()).status == 503
    assert _answer(faults.decide()).status == 429


def test_abort_answer_carries_status_retry_after_and_body() -> None:
    faults = ActiveFaults()
    faults.put("down", (Abort(status=503, retry_after_s=2.0),))
    answer = _answer(faults.decide())
    headers = dict(answer.headers)
    assert (answer.status, headers["Retry-After"]) == (503, "2")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(answer.body) == {"error": "injected fault", "status": 503}
    faults.put("down", (Abort(status=500, body="overloaded, come back later"),))
    answer = _answer(faults.decide())
    assert answer.body == b"overloaded, come back later"
    assert dict(answer.headers)["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("what", sorted(CONNECTION_MALFORMED))
def test_connection_malformed_breaks_the_connection_and_shapes_nothing(what: str) -> None:
    faults = ActiveFaults()
    faults.put("broken", (SlowBody(chunks=3, duration_ms=100.0), Malformed(what=what)))
    faults.put("thin", (Throughput(bytes_per_s=1000.0),))
    decision = faults.decide()
    assert (decision.malformed, decision.answer) == (what, None)
    # Nothing goes out to shape, so nothing is counted as shaped either.
    assert (decision.slow_body, decision.bytes_per_s) == (None, None)
    assert decision.injected == ("malformed",)


def test_invalid_json_and_wrong_content_type_are_made_up_answers() -> None:
    faults = ActiveFaults()
    faults.put("bad", (Malformed(what="invalid_json"),))
    answer = _answer(faults.decide())
    assert answer.status == 200
    assert dict(answer.headers)["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.body)
    faults.put("bad", (Malformed(what="wrong_content_type"),))
    decision = faults.decide()
    assert decision.malformed is None
    assert dict(_answer(decision).headers)["Content-Type"].startswith("text/html")


# --- shaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shaping_first", [True, False])
def test_slow_body_and_throughput_shape_a_made_up_answer_in_any_order(
    shaping_first: bool,
) -> None:
    slow, thin, abort = SlowBody(chunks=4, duration_ms=200.0), Throughput(5000.0), Abort(503)
    faults = ActiveFaults()
    faults.put("set", (slow, thin, abort) if shaping_first else (abort, slow, thin))
    decision = faults.decide()
    assert _answer(decision).status == 503
    assert decision.slow_body == slow
    assert decision.bytes_per_s == 5000.0
    assert sorted(decision.injected) == ["abort", "slow_body", "throughput"]


def test_the_lowest_throughput_limit_applies() -> None:
    faults = ActiveFaults()
    faults.put("a", (Throughput(8000.0),))
    faults.put("b", (Throughput(2000.0), Throughput(4000.0)))
    decision = faults.decide()
    assert decision.bytes_per_s == 2000.0
    assert decision.answer is None
    assert decision.injected == ("throughput", "throughput", "throughput")
