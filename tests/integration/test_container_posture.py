"""What the containers the harness starts may do: no capabilities, no privilege gain, no host
mounts, a read-only root, and (for the serving image) a non-root user. Checked on a real engine
through ``start_container``, both from the engine's view (inspect) and from inside (/proc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ProvisioningError
from harness.system.ports import LOOPBACK, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from harness.system.backends.docker.engine import connect, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no Docker engine answers: {reason}")
    engine = connect()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def run_id(client: Any) -> Iterator[str]:
    from harness.system.backends.docker.labels import new_run_id, run_containers

    run = new_run_id()
    try:
        yield run
    finally:
        for container in run_containers(client, run):
            container.remove(force=True)


def _start(client: Any, run_id: str, name: str, image: str, command: tuple[str, ...]) -> Any:
    from harness.system.backends.docker.containers import ServiceSpec, start_container

    return start_container(client, run_id, ServiceSpec(name, image, command))


def _wait(name: str, container: Any, url: str, timeout_s: float = 30.0) -> Any:
    """The container once ``url`` answers; a failure carries its logs, since a start refused by
    the posture (a write to the root, a missing capability) shows only there."""
    from harness.system.backends.docker import DockerService
    from harness.system.readiness import HttpReady

    HttpReady(url, timeout_s=timeout_s).wait(DockerService(name, container))
    container.reload()
    return container


@pytest.fixture(scope="module")
def stub(client: Any, run_id: str) -> tuple[Any, str]:
    from harness.system.backends.docker.images import LOCAL_BASE, ImageRecipe, ensure_serving_image

    try:
        image = ensure_serving_image(client, ImageRecipe(base=LOCAL_BASE))
    except ProvisioningError as exc:
        pytest.skip(f"serving image cannot be built here: {exc}")
    port = free_port()
    command = ("stub", "--host", LOOPBACK, "--port", str(port))
    container = _start(client, run_id, "stub", image, command)
    health = f"http://{LOOPBACK}:{port}/health"
    return _wait("stub", container, health), health


@pytest.fixture(scope="module")
def toxiproxy(client: Any, run_id: str) -> Any:
    from harness.system.backends.docker.images import TOXIPROXY_IMAGE

    port = free_port()
    command = ("-host", LOOPBACK, "-port", str(port))
    container = _start(client, run_id, "toxiproxy", TOXIPROXY_IMAGE, command)
    return _wait("toxiproxy", container, f"http://{LOOPBACK}:{port}/version")


@pytest.fixture(params=["stub", "toxiproxy"])
def container(request: pytest.FixtureRequest, stub: tuple[Any, str], toxiproxy: Any) -> Any:
    return stub[0] if request.param == "stub" else toxiproxy


def _status(container: Any) -> dict[str, str]:
    """/proc/<pid>/status of the container's main process, read from the host, so images
    without a shell (the upstream Toxiproxy one) are checked the same way."""
    pid = container.attrs["State"]["Pid"]
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_the_engine_holds_the_hardened_host_config(container: Any) -> None:
    host = container.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "host"
    assert not host.get("Binds")
    mounts = container.attrs["Mounts"]
    assert not [m for m in mounts if "docker.sock" in m.get("Source", "")]
    assert all(m.get("Type") != "bind" for m in mounts)


def test_the_main_process_has_no_capabilities_and_cannot_gain_any(container: Any) -> None:
    status = _status(container)
    for capabilities in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, capabilities
    assert status["NoNewPrivs"].strip() == "1"


def test_the_serving_image_runs_as_a_fixed_non_root_user(stub: tuple[Any, str]) -> None:
    container, _ = stub
    assert container.attrs["Config"]["User"] == "10001:10001"
    assert container.exec_run(["id", "-u"]).output.decode().strip() == "10001"
    assert _status(container)["Uid"].split()[0] == "10001"


def test_the_root_is_read_only_and_tmp_is_writable(stub: tuple[Any, str]) -> None:
    container, _ = stub
    root = container.exec_run(["sh", "-c", "touch /probe"])
    assert root.exit_code != 0
    assert b"Read-only file system" in root.output
    assert container.exec_run(["sh", "-c", "touch /tmp/probe && rm /tmp/probe"]).exit_code == 0


def test_container_faults_still_work_on_a_hardened_container(stub: tuple[Any, str]) -> None:
    """The verbs faults use are engine operations, so the posture must not get in their way."""
    container, health = stub
    container.update(cpu_period=100_000, cpu_quota=50_000, mem_limit="256m", memswap_limit="512m")
    container.reload()
    assert container.attrs["HostConfig"]["Memory"] == 256 * 2**20
    container.pause()
    container.unpause()
    container.stop(timeout=5)
    container.start()
    _wait("stub", container, health)
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
