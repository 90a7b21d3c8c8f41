"""Load from Ray actors on a local Ray (127.0.0.1, 2 CPUs): merged exactly in the driver, on
schedule, phases split by the driver's faults, and a lost actor invalidating the run without
hanging it."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.loadgen.engine import Plan, Target
from harness.loadgen.payloads import PredictionsPerRecord, RecordsBody
from harness.loadgen.ray_shards import RayShards, Workers, start_local_ray
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Constant, Step
from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from harness.system.backends.children import ChildProcess
from harness.system.ports import free_port
from harness.system.readiness import HttpReady

pytestmark = pytest.mark.integration

SHARDS = 2


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """One local Ray for the module (RayShards uses a Ray already running and leaves it up)."""
    ray = start_local_ray(SHARDS)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "harness.cli", "endpoint", "--port", str(port)]
    child = ChildProcess("ray-target", [*argv, "--concurrency", "32"])
    child.start(tmp_path_factory.mktemp("endpoint"))
    try:
        url = f"http://127.0.0.1:{port}"
        HttpReady(f"{url}/health").wait(child)
        yield url
    finally:
        child.stop()


def _target(url: str) -> Target:
    """One record per request, one prediction expected back, as a scenario's load sends."""
    body, expected = RecordsBody(1, 100), PredictionsPerRecord(1)
    return Target(f"{url}/invocations", body=body, validator=expected, timeout_s=5.0)


def _plan(url: str) -> Plan:
    # 100 req/s for 2 s, then 300 req/s for 2 s: what each second offered is known.
    return Plan(_target(url), Step(100.0, 200.0, 2.0, 4.0), engine="http1")


def test_shards_merge_into_one_record_of_every_request_on_schedule(
    ray_cluster: Any, endpoint: str
) -> None:
    plan = _plan(endpoint)
    with RayShards(Workers(ray="local", shards=SHARDS)) as shards:
        shards.prepare(plan)
        recorder = Recorder()
        stats = shards.run(recorder, time.monotonic() + 1.0)
        report = shards.report
    expected = len(list(plan.shape.offsets()))
    overall = recorder.phases["overall"]
    assert stats.scheduled == stats.sent == expected == 800
    # Every shard took its share and every request it sent was recorded by the driver once.
    assert [s.stats.sent for s in report.shards if s.stats] == [400, 400]
    assert overall.requests == expected
    assert overall.statuses == {200: expected}
    assert sum(b.requests for b in recorder.each_second()) == expected
    # The offered rate follows the schedule second by second.
    offered = [b.offered for b in recorder.each_second()][:4]
    assert offered == [100, 100, 300, 300]
    assert report.problems(max_lag_ms=10.0, max_clock_offset_ms=10.0) == []
    assert len(report.shards) == SHARDS
    for shard in report.shards:
        assert shard.node_ip == "127.0.0.1"
        assert abs(shard.clock_offset_ms) < 10.0
        assert shard.late_ms is not None
        assert shard.late_ms < 0  # the start reached the shard before it was due


def test_a_killed_actor_invalidates_the_run_and_nothing_waits_for_it(
    ray_cluster: Any, endpoint: str
) -> None:
    plan = Plan(
        Target(f"{endpoint}/invocations", timeout_s=5.0), Constant(100.0, 6.0), engine="http1"
    )
    with RayShards(Workers(ray="local", shards=SHARDS)) as shards:
        shards.prepare(plan)
        killer = threading.Timer(2.5, lambda: ray_cluster.kill(shards.actors[1]))
        killer.start()
        started = time.monotonic()
        recorder = Recorder()
        shards.run(recorder, time.monotonic() + 1.0)
        took = time.monotonic() - started
        killer.join()
        report = shards.report
    assert took < 6.0 + 1.0 + 5.0, "the driver waited on a dead actor"
    lost = report.shards[1]
    assert lost.lost is not None
    problems = report.problems(max_lag_ms=10.0, max_clock_offset_ms=10.0)
    assert any(p.startswith("shard 1 on node 127.0.0.1") and "was lost" in p for p in problems)
    # The surviving shard finished its whole share, and what shard 1 sent before it died counts.
    assert report.shards[0].stats is not None
    assert report.shards[0].stats.sent == 300
    assert 300 < recorder.phases["overall"].requests < 600


def test_a_scenario_run_on_ray_splits_every_shards_requests_at_the_drivers_fault(
    ray_cluster: Any, tmp_path: Path
) -> None:
    scenario = parse_scenario(
        "name: ray-phases\n"
        "load: {rate: 100, duration_s: 4, engine: http1, max_lag_ms: 20}\n"
        "faults:\n"
        "  - {name: slow, type: latency, target: endpoint, start_s: 1.5, duration_s: 1,\n"
        "     attributes: {latency: 150}}\n"
        "budgets: ['error_rate == 0']\n"
    )
    result = run_scenario(scenario, backend="process", workers=Workers(ray="local", shards=SHARDS))
    assert result.valid, result.notes
    ray_report = result.generator["ray"]
    assert ray_report["shards"] == SHARDS
    assert all(shard["sent"] == 200 for shard in ray_report["each"])
    during, baseline = result.phases["during:slow"], result.phases["baseline"]
    # The requests that started inside the window waited for the toxic, from both shards:
    # had one shard started off the driver's clock, its half would have missed the toxic.
    assert during.requests == 100  # 1 s of 100 req/s, by intended start, from both shards
    assert (during.tally.percentile_ms(50) or 0) >= 140
    assert (during.tally.percentile_ms(25) or 0) >= 75
    assert (baseline.tally.percentile_ms(99) or 0) < 100
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["generator"]["ray"]["nodes"] == 1


def test_load_cli_on_ray_reports_shards_and_nodes(
    ray_cluster: Any, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "load.json"
    argv = ["load", "--url", f"{endpoint}/invocations", "--rate", "200", "--duration", "2"]
    code = main([*argv, "--workers", "ray", "--shards", "2", "--json", str(out), "--quiet"])
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    # Valid unless this busy machine made a shard late by more than load's fixed 2 ms: then
    # the run says so, shard by shard, and exits 1.
    assert code == (0 if doc["valid"] else 1), printed
    assert all("fell behind its schedule" in note for note in doc["notes"]), doc["notes"]
    assert doc["requests"] == 400
    assert doc["workers"] == 2
    assert (doc["ray"]["shards"], doc["ray"]["nodes"]) == (2, 1)
    assert "ray local: 2 shards on 1 nodes" in printed
