"""The docker backend against a real engine: serving, container faults, errors, teardown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from faults.container import Crash, Pause
from harness.errors import ProvisioningError, TopologyError
from harness.system import SystemSpec, Topology, bring_up
from harness.system.ports import LOOPBACK, free_port

pytestmark = pytest.mark.integration

BODY = json.dumps({"dataframe_records": [{"id": 1}]}).encode()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from harness.system.backends.docker import connect

    try:
        engine = connect(timeout_s=5)
    except ProvisioningError as exc:
        pytest.skip(f"docker backend unavailable: {exc}")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def image(client: Any) -> str:
    from harness.system.backends.docker import ensure_serving_image

    try:
        return ensure_serving_image(client)
    except ProvisioningError as exc:
        pytest.skip(f"serving image cannot be built here: {exc}")


def _docker(client: Any, image: str, compose: Any = None) -> Any:
    from harness.system.backends.docker import DockerBackend, DockerSettings

    return DockerBackend(DockerSettings(serving_image=image, compose=compose), client=client)


@pytest.fixture(scope="module")
def module_stack(client: Any, image: str) -> Iterator[Topology]:
    with bring_up(SystemSpec(), _docker(client, image)) as topology:
        yield topology


@pytest.fixture
def stack(module_stack: Topology) -> Topology:
    # Reset before the test, not after: a fault left by a failed test must not leak into this one.
    module_stack.reset()
    _wait_ok(f"{module_stack.endpoint_direct_url}/health", timeout_s=20)
    return module_stack


def _invoke(url: str, timeout_s: float = 5.0) -> int:
    request = urllib.request.Request(
        url, data=BODY, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _wait_ok(url: str, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not healthy within {timeout_s}s")


async def _constant_load(url: str, rate: float, duration_s: float) -> list[tuple[float, float]]:
    """(intended send offset, latency from the intended send time) for each request."""
    import aiohttp

    results: list[tuple[float, float]] = []
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def one(offset: float) -> None:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            async with session.post(url, data=BODY, headers={"Content-Type": "application/json"}):
                pass
            results.append((offset, time.monotonic() - start - offset))

        await asyncio.gather(*(one(i / rate) for i in range(int(rate * duration_s))))
    return results


def _containers_of(client: Any, run_id: str) -> list[Any]:
    from harness.system.backends.docker.labels import run_containers

    found: list[Any] = run_containers(client, run_id)
    return found


def _run_labelled(client: Any) -> set[str]:
    from harness.system.backends.docker.labels import run_containers

    return {c.id for c in run_containers(client)}


def test_topology_serves_through_the_endpoint_proxy_and_leaves_nothing(
    client: Any, image: str
) -> None:
    with bring_up(SystemSpec(), _docker(client, image)) as topology:
        assert _invoke(topology.invocations_url) == 200
        assert topology.toxiproxy.proxy("feature-store").enabled
        assert "2.12.0" in (topology.toxiproxy.version() or "")
        assert set(topology.pids) == {"toxiproxy", "feature-store", "endpoint"}
        services = {**topology.owned, **topology.containers}.values()
        labelled = {svc.container.id for svc in services}  # type: ignore[attr-defined]
        assert labelled <= _run_labelled(client)
    assert not labelled & _run_labelled(client)


def test_pausing_the_endpoint_shows_a_latency_spike_of_about_the_pause(stack: Any) -> None:
    pause_s, rate = 1.5, 20.0
    fault = Pause("endpoint")

    async def scenario() -> list[tuple[float, float]]:
        load = asyncio.ensure_future(_constant_load(stack.invocations_url, rate, 3.5))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(fault.apply, stack, "freeze")
        try:
            await asyncio.sleep(pause_s)
        finally:
            await asyncio.to_thread(fault.revert, stack, "freeze")
        return await load

    results = asyncio.run(scenario())
    before = max(latency for offset, latency in results if offset < 0.9)
    worst = max(latency for _, latency in results)
    # The first request sent into the freeze waits out the whole pause; slack for 2 busy cores.
    assert before < 0.5, before
    assert pause_s * 0.8 <= worst <= pause_s + 1.0, worst


def test_killing_the_endpoint_fails_requests_until_it_is_restarted(stack: Any) -> None:
    url = stack.invocations_url
    assert _invoke(url) == 200
    crash = Crash("endpoint")
    crash.apply(stack, "crash")
    try:
        statuses = {_invoke(url, timeout_s=2) for _ in range(5)}
        assert 200 not in statuses, statuses
    finally:
        crash.revert(stack, "crash")
    _wait_ok(f"{stack.endpoint_direct_url}/health", timeout_s=20)
    assert _invoke(url) == 200


def test_wrong_image_name_is_a_clear_error_and_cleans_up(client: Any) -> None:
    before = _run_labelled(client)
    missing = "serving-chaos/no-such-image:0"
    with (
        pytest.raises(TopologyError, match=r"no-such-image:0.*not found"),
        bring_up(SystemSpec(), _docker(client, missing)),
    ):
        pass
    assert _run_labelled(client) <= before  # the reaper may remove dead runs meanwhile


def test_a_service_that_never_gets_healthy_fails_with_its_logs(client: Any) -> None:
    from harness.system.backends.base import Image, Service
    from harness.system.backends.docker.images import LOCAL_BASE
    from harness.system.readiness import HttpReady

    script = "print('warming the model cache', flush=True); import time; time.sleep(60)"
    url = f"http://{LOOPBACK}:{free_port()}/health"
    slowpoke = Service(
        "slowpoke", Image(LOCAL_BASE, ("python3", "-c", script)), HttpReady(url, 2.0)
    )
    backend = _docker(client, LOCAL_BASE)
    with pytest.raises(TopologyError) as caught, backend:
        backend.start(slowpoke)
    assert "did not answer" in str(caught.value)
    assert "warming the model cache" in caught.value.logs
    assert not _run_labelled(client) & {c.id for c in _containers_of(client, backend.run_id)}


def test_a_compose_healthcheck_that_fails_stops_the_start_with_the_logs(
    client: Any, image: str
) -> None:
    from harness.system.backends.docker.compose import parse_compose

    compose = parse_compose(
        {
            "services": {
                "feature-store": {
                    "image": "ignored:tag",
                    "healthcheck": {
                        "test": ["CMD", "python3", "-c", "print('model not loaded'); exit(1)"],
                        "interval": "100ms",
                        "retries": 2,
                    },
                }
            }
        }
    )
    with (
        pytest.raises(TopologyError, match="feature-store: its healthcheck reports unhealthy"),
        bring_up(SystemSpec(), _docker(client, image, compose)),
    ):
        pass


def test_reaper_removes_containers_of_a_dead_run_only(client: Any, module_stack: Any) -> None:
    from harness.system.backends.docker import reap_dead_runs
    from harness.system.backends.docker.images import LOCAL_BASE
    from harness.system.backends.docker.labels import OWNER_PID, OWNER_START, RUN, SERVICE

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    orphan = client.containers.run(
        LOCAL_BASE,
        ["sleep", "60"],
        detach=True,
        network_mode="host",
        labels={RUN: "dead-run", SERVICE: "x", OWNER_PID: dead.stdout.strip(), OWNER_START: "1"},
    )
    reaped = reap_dead_runs(client)
    assert orphan.name in reaped
    alive = {svc.container.id for svc in module_stack.containers.values()}
    assert alive <= _run_labelled(client)


def test_a_compose_file_sets_the_limits_and_environment_of_the_services(
    client: Any, image: str
) -> None:
    from harness.system.backends.docker.compose import parse_compose

    compose = parse_compose(
        {
            "services": {
                "endpoint": {
                    "image": "ignored:tag",
                    "environment": {"MODEL_NOTE": "from-compose"},
                    "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "300m"}}},
                }
            }
        }
    )
    with bring_up(SystemSpec(), _docker(client, image, compose)) as stack:
        endpoint = stack.container("endpoint")
        endpoint.reload()
        host = endpoint.attrs["HostConfig"]
        env = endpoint.attrs["Config"]["Env"]
        store = stack.container("feature-store")
        store.reload()
        assert _invoke(stack.invocations_url) == 200
    assert (host["CpuQuota"], host["CpuPeriod"]) == (50_000, 100_000)
    assert host["Memory"] == 300 << 20
    assert "MODEL_NOTE=from-compose" in env
    assert not store.attrs["HostConfig"]["CpuQuota"]  # not in this compose file: no limit
