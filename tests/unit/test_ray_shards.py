"""Ray shards without Ray: what --workers means, what shards ship and how the driver records it,
and when a sharded run is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.loadgen.batch import Batch
from harness.loadgen.ray_shards import (
    RAY_INSTALL,
    RayRun,
    ShardReport,
    Shipment,
    Workers,
    parse_workers,
    ray_workers,
    record_chunks,
)
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from harness.run.phases import PhaseClock


def test_workers_are_processes_or_ray() -> None:
    assert parse_workers("4") == Workers(processes=4)
    assert parse_workers("ray") == Workers(ray="local")
    assert parse_workers("ray://10.1.2.3:10001", 8) == Workers(ray="ray://10.1.2.3:10001", shards=8)
    assert parse_workers("ray").label == "a shard per CPU on a local Ray"
    assert parse_workers("3").label == "3 processes"


@pytest.mark.parametrize(
    ("text", "shards", "message"),
    [
        ("0", None, "--workers >= 1"),
        ("many", None, "--workers N \\(processes\\), ray or ray://HOST:PORT"),
        ("2", 4, "--shards goes with --workers ray"),
        ("ray", 0, "--shards >= 1"),
    ],
)
def test_bad_workers_are_refused(text: str, shards: int | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_workers(text, shards)


def test_run_takes_ray_only_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ray_workers(None) is None
    with pytest.raises(UsageError, match="expected --workers ray or ray://HOST:PORT"):
        ray_workers("4")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UsageError) as caught:
        ray_workers("ray")
    assert RAY_INSTALL in str(caught.value)


def _outcomes(sink: Batch, count: int, offset: float) -> None:
    rng = np.random.default_rng(7)
    for i in range(count):
        intended = offset + i * 0.002
        sink.offered(intended)
        latency = float(rng.lognormal(-4, 1))
        status = None if i % 17 == 0 else (503 if i % 11 == 0 else 200)
        sink.completed(
            intended,
            intended + 0.0001,
            intended + latency,
            status=status,
            failure="timeout" if status is None else None,
            request_bytes=40 + i % 5,
            response_bytes=None if status is None else 20,
        )
    sink.flush()


def test_shipped_outcomes_record_exactly_as_if_recorded_in_the_shard() -> None:
    """Two shards ship through Batch -> Shipment; the driver records both into one recorder
    with its phase clock: the same histograms as recording both directly."""
    clock = PhaseClock(["slow"])
    clock.started("slow", 1.0)
    clock.ended("slow", 2.0)
    direct, merged = Recorder(clock), Recorder(clock)
    shipments = [Shipment(), Shipment()]
    for index, shipment in enumerate(shipments):
        _outcomes(Batch(direct, size=64), 1500, offset=index * 0.001)
        _outcomes(Batch(shipment, size=64), 1500, offset=index * 0.001)
    for shipment in shipments:
        chunks, inflight = shipment.take()
        assert inflight == 0
        assert record_chunks(merged, chunks) == 1500
        assert shipment.take() == ([], 0)  # taken once
    assert merged.encode() == direct.encode()
    assert merged.phases["during:slow"].requests == direct.phases["during:slow"].requests > 0


def _report(index: int, **changes: object) -> ShardReport:
    shard = ShardReport(index, f"node{index:040d}", "127.0.0.1", "host", 0.2, 0.1, late_ms=-900.0)
    stats = GeneratorStats(scheduled=100, sent=100)
    stats.record_lag(0.0005)
    shard.stats = stats
    for name, value in changes.items():
        setattr(shard, name, value)
    return shard


def test_a_sharded_run_is_invalid_naming_shard_and_node() -> None:
    healthy = RayRun("local", [_report(0), _report(1)])
    assert healthy.problems(max_lag_ms=2.0, max_clock_offset_ms=10.0) == []
    assert healthy.nodes == 2
    behind = GeneratorStats(scheduled=100, sent=90, dropped=10)
    behind.record_lag(0.050)
    broken = RayRun(
        "ray://10.0.0.5:10001",
        [
            _report(0, clock_offset_ms=25.0),
            _report(1, stats=behind),
            _report(2, lost="RayActorError: The actor died unexpectedly"),
            _report(3, late_ms=40.0),
        ],
    )
    problems = broken.problems(max_lag_ms=2.0, max_clock_offset_ms=10.0)
    assert problems[0].startswith("shard 0 on node 127.0.0.1 (host, node00000000")
    assert "clock is +25.0 ms off the driver's (more than 10 ms)" in problems[0]
    assert "shard 1 on node" in problems[1]
    assert "dropped 10 of 100 requests" in problems[1]
    assert "fell behind its schedule: lag p99 50.0" in problems[2]
    assert "shard 2 on node" in problems[3]
    assert "was lost: RayActorError" in problems[3]
    assert "shard 3 on node" in problems[4]
    assert "got the start 40.0 ms late" in problems[4]
    doc = broken.to_json()
    assert (doc["shards"], doc["nodes"]) == (4, 4)
    assert doc["each"][2]["lost"].startswith("RayActorError")


@pytest.mark.parametrize("command", ["run", "certify"])
def test_run_and_certify_refuse_worker_processes_before_anything_starts(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, str(tmp_path / "missing.yaml"), "--workers", "4"]) == 2
    err = capsys.readouterr().err
    assert "expected --workers ray or ray://HOST:PORT but got '4'" in err
    assert "Traceback" not in err
