"""Scenarios written back to YAML read back as the same scenario: every shipped scenario, every
fault kind, budgets with their options, from another folder than the original."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from faults import (
    Crash,
    HttpError,
    Pause,
    ProxyDown,
    ResourceLimit,
    ScheduledFault,
    Stop,
    Surge,
    Toxic,
)
from faults.http import Abort, Delay, Fixed, LogNormal, Malformed, RateLimit
from faults.palette import FaultChoice, Magnitude
from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.scenario.budgets import Budget
from harness.scenario.write import fault_document, scenario_document, scenario_to_yaml

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "suites" / "scenarios").glob("*.yaml"))
BASE = """\
name: written
endpoint: {concurrency: 3, service_time_ms: 12.5, cache_ttl_s: 0}
load: {rate: 25, duration_s: 6, timeout_s: 2, max_lag_ms: 40}
budgets: [error_rate < 0.01]
"""


def _same(read: Scenario, original: Scenario) -> None:
    """Equal in everything a file states (not where it was read from)."""
    client = original.client
    if client is not None and read.client is not None:
        read = replace(read, client=replace(read.client, search_path=client.search_path))
    assert replace(read, source=original.source) == original


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_reads_back_the_same(path: Path, tmp_path: Path) -> None:
    original = load_scenario(path)
    written = tmp_path / "elsewhere" / "copy.yaml"
    written.parent.mkdir()
    written.write_text(scenario_to_yaml(original, header="a copy"))
    assert written.read_text().startswith("# a copy\n")
    _same(load_scenario(written), original)


_FAULTS = (
    Toxic("latency", "feature-store", {"latency": 45, "jitter": 0}),
    Toxic("bandwidth", "endpoint", {"rate": 100}, stream="upstream", toxicity=0.5),
    ProxyDown("feature-store"),
    HttpError("feature-store", (Abort(status=502, percentage=35.0, retry_after_s=2.0),)),
    HttpError("endpoint", (RateLimit(rps=40.0, burst=3),)),
    HttpError("feature-store", (Delay(LogNormal(20.0, 0.4), percentage=50.0),)),
    HttpError("feature-store", (Malformed("truncated", 10.0),)),
    HttpError("feature-store", (Delay(Fixed(30.0)), Abort(status=503, percentage=25.0))),
    Surge("endpoint", factor=3.5, rise_s=0.5),
    Crash("endpoint"),
    Stop("feature-store", grace_s=1),
    Pause("feature-store"),
)


@pytest.mark.parametrize("fault", _FAULTS, ids=lambda fault: type(fault).__name__)
def test_every_fault_kind_reads_back_the_same(fault: object, tmp_path: Path) -> None:
    scheduled = ScheduledFault("the-fault", fault, start_s=1.5, duration_s=2)  # type: ignore[arg-type]
    scenario = replace(parse_scenario(BASE, source=str(tmp_path / "s.yaml")), faults=(scheduled,))
    text = scenario_to_yaml(scenario, original_text=BASE)
    read = parse_scenario(text, source=str(tmp_path / "s.yaml"))
    assert read.faults == (scheduled,)
    assert read == scenario


def test_a_resource_limit_is_written_in_megabytes() -> None:
    limit = ScheduledFault(
        "squeeze", ResourceLimit("endpoint", cpus=0.5, memory_bytes=256 << 20), 1, 2
    )
    assert fault_document(limit)["attributes"] == {"cpus": 0.5, "memory_mb": 256}


def test_palette_faults_read_back_the_same(tmp_path: Path) -> None:
    """What an exploration draws is what its minimal.yaml states."""
    choices = (
        FaultChoice("latency", ("feature-store",), Magnitude(20, 120, 5)),
        FaultChoice("abort", ("feature-store",), Magnitude(5, 50, 5), status=500),
        FaultChoice("rate_limit", ("feature-store",), Magnitude(10, 90, 10, mild_high=True)),
        FaultChoice("surge", ("endpoint",), Magnitude(2, 4, 0.5), rise_s=0.5),
        FaultChoice("down", ("feature-store",)),
    )
    faults = tuple(
        ScheduledFault(f"f{index}", choice.build(choice.targets[0], 3), 0.5 * index, 1.0)
        for index, choice in enumerate(choices)
    )
    scenario = replace(parse_scenario(BASE, source=str(tmp_path / "s.yaml")), faults=faults)
    assert parse_scenario(scenario_to_yaml(scenario, original_text=BASE)).faults == faults


def test_budgets_keep_their_options() -> None:
    budgets = (
        Budget.parse("p99_ms < 250", phase="baseline", name="fast"),
        Budget.parse("error_rate < 0.05", abort_on_fail=True, delay_abort_s=1.5),
        Budget.parse("recovery_time_s < 3", phase="recovery", tolerance=0.5),
    )
    fault = ScheduledFault("slow", Toxic("latency", "feature-store", {"latency": 10}), 1, 2)
    scenario = replace(parse_scenario(BASE), faults=(fault,), budgets=budgets)
    document = scenario_document(scenario, original_text=BASE)
    assert document["budgets"][0] == {"expect": "p99_ms < 250", "phase": "baseline", "name": "fast"}
    assert parse_scenario(scenario_to_yaml(scenario, original_text=BASE)).budgets == budgets


def test_only_endpoint_settings_that_differ_from_the_defaults_are_written() -> None:
    document = scenario_document(parse_scenario(BASE), original_text=BASE)
    assert document["endpoint"] == {"concurrency": 3, "service_time_ms": 12.5}
    assert document["load"] == {"rate": 25, "duration_s": 6, "timeout_s": 2, "max_lag_ms": 40}
