"""Each run-wide measure of a client under test, shown right on constructed runs."""

from __future__ import annotations

from harness.verdict.clients import Attempt, client_measures, parse_ledger, retry_after_respected


def _hop(requests: int, connections: int, **statuses: int) -> dict[str, object]:
    return {
        "requests": requests,
        "connections": connections,
        "statuses": {key.removeprefix("s"): n for key, n in statuses.items()},
    }


def test_a_client_that_retries_exactly_twice_amplifies_three_times() -> None:
    # 10 logical calls, each tried three times: 429, 429, then 200.
    ledger = {
        i: [
            Attempt(0.0, 0.01, "429", 1.0),
            Attempt(1.1, 1.11, "429", 1.0),
            Attempt(2.2, 2.21, "200"),
        ]
        for i in range(10)
    }
    measures = client_measures(
        calls=10,
        succeeded=list(range(10)),
        records_per_call=2,
        hop=_hop(30, 1, s200=10, s429=20),
        ledger=ledger,
    )
    assert measures["retry_amplification"] == 3.0
    assert measures["retry_after_respected"] == 1.0
    assert measures["connections_per_call"] == 0.1
    assert measures["records_per_request"] == round(20 / 30, 4)
    assert measures["cache_hit_rate"] == 0.0
    assert measures["endpoint.requests"] == 30
    assert measures["endpoint.error_rate"] == round(20 / 30, 6)
    assert measures["endpoint.status_429"] == 20


def test_a_client_that_ignores_retry_after_respects_it_zero_percent() -> None:
    ledger = {0: [Attempt(0.0, 0.01, "429", 1.0), Attempt(0.02, 0.03, "503", 2.0),
                  Attempt(0.04, 0.05, "200")]}  # fmt: skip
    assert retry_after_respected(ledger) == 0.0


def test_retry_after_is_judged_only_where_a_client_was_told_to_wait() -> None:
    assert (
        retry_after_respected({0: [Attempt(0.0, 0.01, "503"), Attempt(0.02, 0.03, "200")]}) is None
    )
    # Waiting just short of it, within scheduling noise, still counts as waiting.
    near = {0: [Attempt(0.0, 1.0, "429", 1.0), Attempt(1.97, 2.0, "200")]}
    assert retry_after_respected(near) == 1.0
    early = {0: [Attempt(0.0, 1.0, "429", 1.0), Attempt(1.5, 1.6, "429", 1.0)]}
    assert retry_after_respected(early) == 0.0


def test_calls_answered_without_reaching_the_endpoint_are_cache_hits() -> None:
    ledger = {0: [Attempt(0.0, 0.01, "200")], 2: [Attempt(0.1, 0.11, "200")]}
    measures = client_measures(
        calls=4, succeeded=[0, 1, 2, 3], records_per_call=1, hop=_hop(2, 1, s200=2), ledger=ledger
    )
    assert measures["cache_hit_rate"] == 0.5
    assert measures["retry_amplification"] == 0.5
    # A batching client sends fewer requests than records.
    assert measures["records_per_request"] == 2.0


def test_without_the_fault_layers_counts_nothing_is_guessed() -> None:
    measures = client_measures(calls=5, succeeded=[], records_per_call=1, hop=None, ledger=None)
    assert set(measures.values()) == {None}


def test_the_ledger_reads_as_the_layer_writes_it() -> None:
    body = {"calls": {"3": [[0.5, 0.6, "429", 1], [1.7, 1.8, "200", None]]}}
    assert parse_ledger(body) == {
        3: [Attempt(0.5, 0.6, "429", 1.0), Attempt(1.7, 1.8, "200", None)]
    }
