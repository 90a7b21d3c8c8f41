"""The client advice the shipped client scenarios stand for, shown against the clients that do
not follow it: under the same faults, the naive and fixed-retries clients break the budgets the
resilient and batched clients hold, for the reasons the advice gives."""

from __future__ import annotations

from pathlib import Path

from harness.plugin import ChaosRunner
from harness.verdict.results import RunResult

SCENARIOS = Path(__file__).parent / "scenarios"


def _failed(result: RunResult) -> set[str]:
    return {item.budget.expression for item in result.failed_budgets}


def test_under_a_429_surge_only_the_resilient_client_keeps_its_users_error_rate(
    chaos: ChaosRunner,
) -> None:
    surge = SCENARIOS / "client_429_surge.yaml"
    naive = chaos.run(surge, client="naive", check=False)
    storm = chaos.run(surge, client="fixed_retries", check=False)

    # No retry: every shed call is a user's error.
    assert "client.error_rate < 0.01" in _failed(naive)
    assert naive.client is not None
    assert naive.client["measures"]["retry_amplification"] == 1.0
    # Three immediate retries land inside the same shedding window: still errors, and more
    # than twice the load on an endpoint that asked for less, ignoring its Retry-After.
    assert {"client.error_rate < 0.01", "retry_amplification < 1.5"} <= _failed(storm)
    assert storm.client is not None
    measures = storm.client["measures"]
    assert measures["retry_amplification"] > 2
    assert measures["retry_after_respected"] == 0.0


def test_without_a_retry_budget_an_outage_more_than_doubles_the_load(chaos: ChaosRunner) -> None:
    storm = chaos.run(
        SCENARIOS / "client_outage_retry_budget.yaml", client="fixed_retries", check=False
    )
    assert storm.client is not None
    assert storm.client["measures"]["retry_amplification"] > 2
    assert "retry_amplification < 1.5" in _failed(storm)


def test_the_naive_client_opens_a_connection_per_call_and_one_request_per_record(
    chaos: ChaosRunner,
) -> None:
    naive = chaos.run(SCENARIOS / "client_pooling_batching.yaml", client="naive", check=False)
    assert naive.client is not None
    measures = naive.client["measures"]
    assert measures["connections_per_call"] == 1.0
    assert measures["records_per_request"] == 1.0
    assert _failed(naive) == {"records_per_request > 1.5", "connections_per_call < 0.2"}
