"""Per-second series of real runs: a dependency's calls each second add up to what it counted
over the run, the provisioned units are the endpoint's, and the series is in results.json of
an aborted run and of a server the harness did not start, empty where nothing was exposed."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run.runner import run_scenario
from harness.run.sampler import sample_dependencies
from harness.run.series import RunSeries
from harness.scenario import parse_scenario
from harness.system.backends.children import ChildProcess
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from harness.verdict.results import empty_series

pytestmark = pytest.mark.integration

UNITS = 3
RATE = 20
STEADY = f"""\
name: series
endpoint: {{concurrency: {UNITS}}}
load: {{rate: {RATE}, duration_s: 3, records_per_request: 1, timeout_s: 5}}
"""
# Slack for calls counted between the last per-second reading and the end-of-run scrape.
CALLS_SLACK = 3


def test_dependency_calls_per_second_add_up_to_the_run_and_provisioned_is_the_endpoints(
    tmp_path: Path,
) -> None:
    result = run_scenario(parse_scenario(STEADY), backend="process", report_dir=tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    series = data["series"]

    counted = data["dependencies"]["feature-store"]
    per_second = series["dependencies"]["feature-store"]
    summed: Counter[str] = Counter()
    for point in per_second:
        summed.update(point["statuses"])
    assert counted["calls"] >= RATE * 3 - CALLS_SLACK
    assert set(summed) == set(counted["statuses"]) == {"200"}
    assert abs(summed["200"] - counted["statuses"]["200"]) <= CALLS_SLACK
    seconds = [point["t"] for point in per_second]
    assert seconds == sorted(set(seconds))
    assert {0, 1, 2} <= set(seconds)
    # One lookup per request at 20 req/s: each whole second of load saw about 20 calls.
    assert 12 <= sum(per_second[seconds.index(1)]["statuses"].values()) <= 28

    assert {value for _, value in series["provisioned"]} == {UNITS}
    assert {value for _, value in series["provisioned_target"]} == {UNITS}
    assert [t for t, _ in series["provisioned"]] == list(range(len(series["provisioned"])))
    assert len(series["provisioned"]) >= 3
    assert set(series["endpoint"]) == {"upstream_retries", "cache_hits", "cache_misses", "rejected"}
    assert sum(n for _, n in series["endpoint"]["rejected"]) == 0
    assert series["scrape_failures"] == {}

    environment = data["environment"]
    assert environment["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(environment["toxiproxy"], str)
    assert environment["toxiproxy"].count(".") >= 1
    assert result.to_json()["series"] == series


def test_an_aborted_run_keeps_the_series_it_measured() -> None:
    text = (
        "name: series-abort\n"
        "load: {rate: 20, duration_s: 20, timeout_s: 2}\n"
        "budgets:\n"
        "  - {expect: p50_ms < 0.001, abort_on_fail: true, delay_abort_s: 1}\n"
    )

    result = run_scenario(parse_scenario(text), backend="process")
    data = json.loads(json.dumps(result.to_json()))

    assert data["aborted"] is not None
    assert set(data["series"]) == set(empty_series())
    assert data["series"]["provisioned"], "the endpoint was scraped until the abort"
    assert max(t for t, _ in data["series"]["provisioned"]) < 10
    assert "feature-store" in data["series"]["dependencies"]


@pytest.fixture
def users_endpoint(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "harness.cli", "endpoint", "--port", str(port)]
    child = ChildProcess("user-endpoint", argv)
    child.start(tmp_path)
    try:
        url = f"http://{LOOPBACK}:{port}"
        HttpReady(f"{url}/health").wait(child)
        yield url
    finally:
        child.stop()


def test_a_server_whose_metrics_are_not_read_gives_an_empty_series(
    users_endpoint: str, tmp_path: Path
) -> None:
    scenario = parse_scenario(
        f"name: byo\ntarget: {{url: '{users_endpoint}'}}\nload: {{rate: 10, duration_s: 1}}\n"
    )

    result = run_scenario(scenario, report_dir=tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())

    assert result.backend == "url"
    assert data["series"] == empty_series()
    assert set(data["environment"]) == {"harness", "python", "platform", "toxiproxy"}


def test_an_unreachable_dependency_is_counted_not_raised() -> None:
    series = RunSeries({"gone": {"200": 0.0}})
    url = f"http://{LOOPBACK}:{free_port()}/metrics"

    async def scrape() -> None:
        stop = asyncio.Event()
        t0 = time.monotonic()
        task = asyncio.create_task(sample_dependencies({"gone": url}, series, t0=t0, stop=stop))
        await asyncio.sleep(1.2)
        stop.set()
        await task

    asyncio.run(scrape())

    # One reading at the first whole second, one when stopped: both refused, both counted.
    assert series.failures == {"gone": 2}
    assert series.to_json()["dependencies"] == {"gone": []}
