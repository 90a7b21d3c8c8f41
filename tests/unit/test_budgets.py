"""Budgets: parsing `metric op limit`, and judging a phase's measurements against one."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scenario.budgets import OPERATORS, PLAIN_METRICS, Budget
from harness.verdict.budgets import BudgetResult, evaluate


@dataclass
class FakeMeasured:
    requests: int
    values: dict[str, float] = field(default_factory=dict)

    def value(self, metric: str) -> float | None:
        return self.values.get(metric)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("p99_ms < 500", Budget("p99_ms", "<", 500.0), id="plain-percentile"),
        pytest.param("p(95)<200", Budget("p95_ms", "<", 200.0), id="k6-percentile"),
        pytest.param("error_rate <= 0.01", Budget("error_rate", "<=", 0.01), id="error-rate"),
        pytest.param("p(99.9) > 1e3", Budget("p99.9_ms", ">", 1000.0), id="k6-fraction-exp"),
        pytest.param(" requests >= 10 ", Budget("requests", ">=", 10.0), id="padded"),
        pytest.param("max_queue_depth == 0", Budget("max_queue_depth", "==", 0.0), id="equal"),
    ],
)
def test_parse(expression: str, expected: Budget) -> None:
    assert Budget.parse(expression) == expected


def test_parse_keeps_phase_and_name_and_label_prefers_name() -> None:
    budget = Budget.parse("p(95)<200", phase="during:slow-db", name="fast enough")

    assert budget == Budget("p95_ms", "<", 200.0, phase="during:slow-db", name="fast enough")
    assert budget.expression == "p95_ms < 200"
    assert budget.label == "fast enough"
    assert Budget.parse("p99_ms < 500").label == "p99_ms < 500"


@pytest.mark.parametrize(
    ("expression", "phase", "bad"),
    [
        pytest.param("latency_ms < 5", "overall", "'latency_ms'", id="unknown-metric"),
        pytest.param("p999_ms < 5", "overall", "'p999_ms'", id="three-digit-percentile"),
        pytest.param("p(95 < 5", "overall", "'p(95'", id="unclosed-k6"),
        pytest.param("p99_ms => 500", "overall", "'p99_ms => 500'", id="bad-op"),
        pytest.param("p99_ms != 500", "overall", "'p99_ms != 500'", id="not-equal-op"),
        pytest.param("p99_ms < fast", "overall", "'p99_ms < fast'", id="bad-limit"),
        pytest.param("p99_ms < 500", "later", "phase='later'", id="bad-phase"),
        pytest.param("p99_ms < 500", "during:", "phase='during:'", id="empty-fault-name"),
    ],
)
def test_parse_rejects_with_bad_value_in_message(expression: str, phase: str, bad: str) -> None:
    with pytest.raises(ValueError, match="expected") as info:
        Budget.parse(expression, phase=phase)

    assert bad in str(info.value)


def test_holds_uses_the_operator() -> None:
    budget = Budget("p99_ms", "<=", 500.0)

    assert budget.holds(500.0)
    assert budget.holds(12.5)
    assert not budget.holds(500.001)


def test_evaluate_with_no_requests_fails_with_note() -> None:
    budget = Budget.parse("p99_ms < 500", phase="recovery")

    for measured in (FakeMeasured(requests=0, values={"p99_ms": 1.0}), None):
        result = evaluate(budget, measured)
        assert result == BudgetResult(
            budget, None, False, "no requests completed in phase recovery"
        )


def test_evaluate_with_unmeasured_metric_fails_with_note() -> None:
    budget = Budget.parse("max_queue_depth == 0")

    result = evaluate(budget, FakeMeasured(requests=10))

    assert result == BudgetResult(budget, None, False, "max_queue_depth was not measured")


@pytest.mark.parametrize(("observed", "passed"), [(499.9, True), (500.0, False), (730.0, False)])
def test_evaluate_compares_observed_to_limit(observed: float, passed: bool) -> None:
    budget = Budget.parse("p99_ms < 500")

    result = evaluate(budget, FakeMeasured(requests=3, values={"p99_ms": observed}))

    assert result == BudgetResult(budget, observed, passed)


def test_budget_result_to_json() -> None:
    budget = Budget.parse("p99_ms < 500", phase="baseline", name="p99")

    assert BudgetResult(budget, 612.5, False, "").to_json() == {
        "name": "p99",
        "phase": "baseline",
        "expression": "p99_ms < 500",
        "metric": "p99_ms",
        "op": "<",
        "limit": 500.0,
        "observed": 612.5,
        "passed": False,
        "note": "",
    }


_finite = st.floats(allow_nan=False, allow_infinity=False)


@given(limit=_finite, observed=_finite)
def test_less_than_holds_exactly_when_observed_is_below_limit(
    limit: float, observed: float
) -> None:
    assert Budget("p99_ms", "<", limit).holds(observed) == (observed < limit)


_metrics = st.one_of(
    st.sampled_from(sorted(PLAIN_METRICS)),
    st.sampled_from(["p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "p0_ms"]),
)
# Limits a person writes: up to six significant digits, which `:g` prints exactly.
_limits = st.builds(
    lambda digits, scale: digits / 10**scale,
    st.integers(-999_999, 999_999),
    st.integers(0, 6),
)
_phases = st.sampled_from(["overall", "baseline", "recovery", "during:feature-store-slow"])


@given(metric=_metrics, op=st.sampled_from(sorted(OPERATORS)), limit=_limits, phase=_phases)
def test_expression_round_trips_through_parse(
    metric: str, op: str, limit: float, phase: str
) -> None:
    budget = Budget(metric, op, limit, phase)

    assert Budget.parse(budget.expression, phase=phase) == budget


def test_expression_keeps_every_digit_of_the_limit() -> None:
    budget = Budget.parse("requests >= 1234567")

    assert Budget.parse(budget.expression) == budget
