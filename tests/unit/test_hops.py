"""What the HTTP hops counted, as results.json shows it and dependency budgets judge it."""

from __future__ import annotations

from harness.run.hops import HopCounts, dependency_report, endpoint_hop_report, parse_counts
from harness.scenario.budgets import Budget
from harness.verdict.budgets import evaluate
from harness.verdict.results import DependencyCounts

STUB_BEFORE = """\
# TYPE stub_calls_total counter
stub_calls_total{route="/features/{key}",status="200"} 10.0
stub_calls_total{route="/features/{key}",status="429"} 2.0
# TYPE stub_unmatched_total counter
stub_unmatched_total 1.0
# TYPE stub_faults_injected_total counter
stub_faults_injected_total{kind="rate_limit"} 2.0
# TYPE stub_connections_total counter
stub_connections_total 3.0
"""
STUB_AFTER = """\
# TYPE stub_calls_total counter
stub_calls_total{route="/features/{key}",status="200"} 70.0
stub_calls_total{route="/features/{key}",status="429"} 12.0
stub_calls_total{route="unmatched",status="404"} 4.0
# TYPE stub_unmatched_total counter
stub_unmatched_total 5.0
# TYPE stub_faults_injected_total counter
stub_faults_injected_total{kind="rate_limit"} 12.0
# TYPE stub_connections_total counter
stub_connections_total 4.0
"""
FRONT = """\
# TYPE front_requests_total counter
front_requests_total{status="200"} 90.0
front_requests_total{status="503"} 10.0
# TYPE front_connections_total counter
front_connections_total 8.0
# TYPE front_upstream_connections_total counter
front_upstream_connections_total 8.0
# TYPE front_bytes_total counter
front_bytes_total{direction="request"} 12000.0
front_bytes_total{direction="response"} 34000.0
# TYPE front_faults_injected_total counter
front_faults_injected_total{kind="abort"} 10.0
"""


def test_a_dependencys_run_is_the_difference_of_two_scrapes() -> None:
    run = parse_counts(STUB_AFTER) - parse_counts(STUB_BEFORE)
    report = dependency_report(run, requests=40)
    assert report == {
        "calls": 74,
        "calls_per_request": 1.85,
        "statuses": {"200": 60, "404": 4, "429": 10},
        "unmatched": 4,
        "faults_injected": {"rate_limit": 10},
        "connections": 1,
    }


def test_a_hop_without_metrics_says_so_and_budgets_on_it_fail() -> None:
    assert dependency_report(None, 10)["calls"] is None
    assert endpoint_hop_report(None)["requests"] is None
    # Requests were served, so the budget fails on the missing counts, not on an empty phase.
    budget = Budget.parse("dep.api.calls < 5")
    result = evaluate(budget, DependencyCounts(dependency_report(None, 10), requests=10))
    assert not result.passed
    assert result.observed is None
    assert result.note == "dep.api.calls was not measured"


def test_the_fault_layer_reports_what_clients_really_sent() -> None:
    report = endpoint_hop_report(parse_counts(FRONT) - HopCounts())
    assert report == {
        "requests": 100,
        "statuses": {"200": 90, "503": 10},
        "faults_injected": {"abort": 10},
        "connections": 8,
        "upstream_connections": 8,
        "bytes": {"request": 12000, "response": 34000},
    }


def test_dependency_budgets_read_calls_per_request_and_statuses() -> None:
    seen = dependency_report(parse_counts(STUB_AFTER) - parse_counts(STUB_BEFORE), 40)
    counts = DependencyCounts(seen, requests=40)
    assert counts.value("dep.api.calls_per_request") == 1.85
    assert counts.value("dep.api.status_429") == 10
    assert counts.value("dep.api.status_500") == 0
    assert counts.value("dep.api.calls") == 74
