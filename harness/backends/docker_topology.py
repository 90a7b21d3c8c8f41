"""The docker backend: the same topology as the process backend, each service in a container.

Every container uses the host network and binds 127.0.0.1 on a free port, so addresses, proxies
and tests are identical on both backends. Containers carry the run's labels; all of them are
removed on the way out (normal exit, exception, Ctrl-C), and containers of runs whose harness
died are reaped before a new run starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends import labels
from harness.backends.compose import ComposeFile, ComposeService, load_compose
from harness.backends.containers import (
    ContainerReady,
    ServiceSpec,
    last_logs,
    start_container,
)
from harness.backends.engine import connect
from harness.backends.images import (
    LOCAL_BASE,
    TOXIPROXY_IMAGE,
    ImageRecipe,
    ensure_serving_image,
)
from harness.ports import LOOPBACK, free_port
from harness.scenario import ENDPOINT_PROXY, FEATURE_STORE_PROXY, EndpointSpec, ExternalTarget
from harness.topology import Served, Topology, endpoint_command
from harness.toxiproxy import ToxiproxyClient

TOXIPROXY = "toxiproxy"
ENDPOINT = "endpoint"


@dataclass(slots=True)
class DockerStack:
    """A running docker topology: the Topology plus the containers behind it, by service."""

    topology: Topology
    run_id: str
    client: Any
    containers: dict[str, Any] = field(default_factory=dict)

    def container(self, service: str) -> Any:
        return self.containers[service]

    def logs(self, service: str, lines: int = 200) -> str:
        return last_logs(self.containers[service], lines)


DEFAULT_COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def default_compose() -> ComposeFile | None:
    """The shipped docker-compose.yml, when running from a checkout that has it."""
    return load_compose(DEFAULT_COMPOSE) if DEFAULT_COMPOSE.is_file() else None


@dataclass(frozen=True, slots=True)
class Roles:
    """What a compose file says about each service the harness starts: its resource limits, its
    environment and (for Toxiproxy) its image. Ports and commands stay the harness's own, so
    every run still gets free loopback ports."""

    compose: ComposeFile | None

    def _service(self, name: str) -> ComposeService | None:
        return None if self.compose is None else self.compose.services.get(name)

    def image(self, name: str) -> str | None:
        service = self._service(name)
        return None if service is None else service.image

    def spec(
        self,
        name: str,
        image: str,
        command: tuple[str, ...],
        environment: dict[str, str] | None = None,
    ) -> ServiceSpec:
        service = self._service(name)
        if service is None:
            return ServiceSpec(name, image, command, environment=dict(environment or {}))
        return ServiceSpec(
            name,
            image,
            command,
            environment={**service.environment, **(environment or {})},
            cpus=service.limits.cpus,
            memory_bytes=service.limits.memory_bytes,
        )


def _host_pid(container: Any) -> int | None:
    container.reload()
    pid = container.attrs.get("State", {}).get("Pid")
    return int(pid) if pid else None


def _save_logs(containers: dict[str, Any], log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    for service, container in containers.items():
        text = last_logs(container, lines=10_000)
        (log_dir / f"{service}.log").write_text(text + "\n")


def remove_run(client: Any, run_id: str) -> None:
    """Force-remove every container labelled with ``run_id``, found by label so none is missed."""
    from docker.errors import APIError

    for container in labels.run_containers(client, run_id):
        with contextlib.suppress(APIError):
            container.remove(force=True)


@contextmanager
def docker_stack(
    endpoint: EndpointSpec,
    *,
    image: str | None = None,
    base: str | None = None,
    client: Any = None,
    log_dir: Path | None = None,
    ready_timeout_s: float = 30.0,
    toxiproxy_image: str | None = None,
    custom: ExternalTarget | None = None,
    compose: ComposeFile | None = None,
) -> Iterator[DockerStack]:
    """Toxiproxy, the feature-store stub and the endpoint as containers on free loopback ports.

    ``image`` names the endpoint/stub image; by default it is built from this source tree
    (cached by content hash) on ``base``. With ``log_dir`` every container's logs are written
    there before the containers are removed.
    """
    roles = Roles(compose if compose is not None else default_compose())
    own_client = client is None
    client = connect() if client is None else client
    run_id = labels.new_run_id()
    containers: dict[str, Any] = {}
    try:
        labels.reap_dead_runs(client)
        if image is None:
            # Same variable as scripts/provision_docker.sh, which builds the default base.
            chosen = base or os.environ.get("SERVING_CHAOS_BASE_IMAGE") or LOCAL_BASE
            image = ensure_serving_image(client, ImageRecipe(base=chosen))

        def start(service: ServiceSpec, health_url: str) -> Any:
            container = start_container(client, run_id, service)
            containers[service.name] = container
            ContainerReady(health_url, timeout_s=ready_timeout_s).wait(service.name, container)
            return container

        api_port = free_port()
        toxiproxy = ToxiproxyClient(LOOPBACK, api_port)
        proxy_args = ("-host", LOOPBACK, "-port", str(api_port))
        proxy_image = toxiproxy_image or roles.image(TOXIPROXY) or TOXIPROXY_IMAGE
        start(roles.spec(TOXIPROXY, proxy_image, proxy_args), f"{toxiproxy.api_url}/version")

        stub_port = free_port()
        stub_url = f"http://{LOOPBACK}:{stub_port}"
        stub_command = ("stub", "--host", LOOPBACK, "--port", str(stub_port))
        start(roles.spec(FEATURE_STORE_PROXY, image, stub_command), f"{stub_url}/health")
        store_proxy = toxiproxy.create_proxy(FEATURE_STORE_PROXY, f"{LOOPBACK}:{stub_port}")

        endpoint_port = free_port()
        direct = f"http://{LOOPBACK}:{endpoint_port}"
        store_via_proxy = f"http://{LOOPBACK}:{store_proxy.port}"
        served = Served.of(custom, direct)
        if custom is None:
            command = tuple(endpoint_command(endpoint, endpoint_port, store_via_proxy))
            service = roles.spec(ENDPOINT, image, command)
        else:
            args = tuple(custom.expand(custom.args, endpoint_port, store_via_proxy))
            env = custom.environment(endpoint_port, store_via_proxy)
            service = roles.spec(ENDPOINT, custom.image, args, env)
        start(service, served.health_url)
        front = toxiproxy.create_proxy(ENDPOINT_PROXY, f"{LOOPBACK}:{endpoint_port}")

        pids = {name: _host_pid(c) for name, c in containers.items()}
        topology = Topology(
            endpoint_url=f"http://{LOOPBACK}:{front.port}",
            endpoint_direct_url=direct,
            metrics_url=served.metrics_url,
            stub_urls={FEATURE_STORE_PROXY: stub_url},
            toxiproxy=toxiproxy,
            pids={name: pid for name, pid in pids.items() if pid is not None},
            log_dir=log_dir,
            containers=containers,
            invocations_path=served.invocations_path,
        )
        yield DockerStack(topology, run_id, client, containers)
    finally:
        # Logs first: once removed, a container's output is gone for good.
        if log_dir is not None:
            with contextlib.suppress(Exception):
                _save_logs(containers, log_dir)
        remove_run(client, run_id)
        if own_client:
            client.close()


@contextmanager
def docker_topology(
    endpoint: EndpointSpec,
    *,
    image: str | None = None,
    log_dir: Path | None = None,
    ready_timeout_s: float = 30.0,
    custom: ExternalTarget | None = None,
    compose: ComposeFile | None = None,
) -> Iterator[Topology]:
    """The docker backend with the same face as ``process_topology``; ``compose`` (by default
    the shipped docker-compose.yml) gives each service's limits and environment."""
    with docker_stack(
        endpoint,
        image=image,
        log_dir=log_dir,
        ready_timeout_s=ready_timeout_s,
        custom=custom,
        compose=compose,
    ) as stack:
        yield stack.topology
