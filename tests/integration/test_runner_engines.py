"""The runner on each HTTP engine: a fault window attributed to the same phases, and a run that
is cancelled stops its load at once. Real Toxiproxy, endpoint and stub on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace

import pytest

from faults import ScheduledFault, Toxic
from harness.loadgen.recorder import Recorder
from harness.run.load import run_open_loop
from harness.run.runner import run_on
from harness.scenario import LoadSpec, Scenario
from harness.servers.stub.config import DEFAULT_NAME as FEATURE_STORE_PROXY
from harness.system.topology import Topology
from tests.engines import NATIVE

pytestmark = pytest.mark.integration

LATENCY_MS = 120
SLOW = ScheduledFault(
    "slow", Toxic("latency", FEATURE_STORE_PROXY, {"latency": LATENCY_MS}), 1.0, 1.5
)
SCENARIO = Scenario(
    name="engines",
    # Slow enough that the endpoint's default concurrency absorbs the slowdown without 429s.
    load=LoadSpec(rate=25, duration_s=4, timeout_s=5),
    faults=(SLOW,),
)


@pytest.mark.parametrize("engine", ["aiohttp", "http1", NATIVE])
def test_a_fault_window_lands_in_the_same_phases_on_every_engine(
    chaos_proxies: Topology, engine: str
) -> None:
    scenario = replace(SCENARIO, load=replace(SCENARIO.load, engine=engine))

    result = run_on(chaos_proxies, scenario)

    phases = {name: stats for name, stats in result.phases.items()}
    overall = phases["overall"]
    assert result.valid, result.notes
    assert overall.errors == 0
    assert overall.requests == 100
    parts = ("baseline", "during:slow", "recovery")
    assert sum(phases[name].requests for name in parts) == overall.requests
    assert phases["during:slow"].value("p50_ms") >= LATENCY_MS  # type: ignore[operator]
    assert phases["baseline"].value("p90_ms") < LATENCY_MS / 2  # type: ignore[operator]
    assert phases["recovery"].value("p90_ms") < LATENCY_MS / 2  # type: ignore[operator]


@pytest.mark.parametrize("engine", ["http1", NATIVE])
def test_a_cancelled_run_stops_the_engine_thread_at_once(
    chaos_proxies: Topology, engine: str
) -> None:
    spec = LoadSpec(rate=100, duration_s=30, timeout_s=5, engine=engine)
    recorder = Recorder()
    before = threading.active_count()

    async def cancel_after(seconds: float) -> None:
        load = asyncio.create_task(
            run_open_loop(chaos_proxies.invocations_url, spec, recorder, t0=time.monotonic() + 0.05)
        )
        await asyncio.sleep(seconds)
        load.cancel()
        with pytest.raises(asyncio.CancelledError):
            await load

    started = time.monotonic()
    asyncio.run(cancel_after(1.0))

    assert time.monotonic() - started < 3.0
    assert threading.active_count() == before
    # It did send while it ran, and nothing after.
    sent = recorder.phases["overall"].requests
    assert 50 <= sent <= 150
