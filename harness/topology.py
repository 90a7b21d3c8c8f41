"""A running topology (endpoint and stubs behind Toxiproxy) and the process backend."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.endpoint.cli import config_to_argv
from harness.errors import TopologyError
from harness.ports import LOOPBACK, free_port
from harness.processes import ChildProcess, HttpReady, ProcessContainer, running
from harness.scenario import ENDPOINT_PROXY, FEATURE_STORE_PROXY, EndpointSpec, ExternalTarget
from harness.toxiproxy import ToxiproxyClient, find_toxiproxy_server

ENDPOINT_NAME = "model"


@dataclass(frozen=True, slots=True)
class Topology:
    """A running topology, and the one handle faults act through.

    ``endpoint_url`` goes through Toxiproxy. ``containers`` maps each service to its docker
    container, or on the process backend to a stand-in with the same verbs (pause, kill, start).
    """

    endpoint_url: str
    endpoint_direct_url: str
    metrics_url: str | None
    stub_urls: dict[str, str]
    toxiproxy: ToxiproxyClient
    pids: dict[str, int] = field(default_factory=dict)
    log_dir: Path | None = None
    containers: Mapping[str, Any] = field(default_factory=dict)
    invocations_path: str = f"/serving-endpoints/{ENDPOINT_NAME}/invocations"

    @property
    def invocations_url(self) -> str:
        return f"{self.endpoint_url}{self.invocations_path}"

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        attributes: dict[str, int],
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> None:
        self.toxiproxy.add_toxic(
            proxy, name=name, type=type, attributes=attributes, stream=stream, toxicity=toxicity
        )

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.toxiproxy.remove_toxic(proxy, name)

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self.toxiproxy.set_enabled(proxy, enabled)

    def container(self, service: str) -> Any:
        found = self.containers.get(service)
        if found is None:
            raise TopologyError(f"no service {service!r}; services: {sorted(self.containers)}")
        return found

    def stub_url(self, stub: str) -> str:
        found = self.stub_urls.get(stub)
        if found is None:
            raise TopologyError(f"no stub {stub!r}; stubs: {sorted(self.stub_urls)}")
        return found


def endpoint_command(spec: EndpointSpec, port: int, feature_store_url: str) -> list[str]:
    """`serving-chaos` arguments that start the endpoint for ``spec`` on every backend."""
    config = replace(
        spec, host=LOOPBACK, port=port, name=ENDPOINT_NAME, feature_store_url=feature_store_url
    )
    return ["endpoint", "--host", LOOPBACK, "--port", str(port), *config_to_argv(config)]


@dataclass(frozen=True, slots=True)
class Served:
    """Where a started endpoint answers: the reference endpoint's paths, or a custom target's."""

    health_url: str
    metrics_url: str | None
    invocations_path: str

    @classmethod
    def of(cls, custom: ExternalTarget | None, direct: str) -> Served:
        if custom is None:
            default = f"/serving-endpoints/{ENDPOINT_NAME}/invocations"
            return cls(f"{direct}/health", f"{direct}/metrics", default)
        metrics = f"{direct}{custom.metrics_path}" if custom.metrics_path else None
        return cls(f"{direct}{custom.health_path}", metrics, custom.invocations_path)


Starter = Callable[[ChildProcess, HttpReady], ChildProcess]


def _start_toxiproxy(start: Starter, ready_timeout_s: float) -> ToxiproxyClient:
    api_port = free_port()
    binary = find_toxiproxy_server()
    toxiproxy = ToxiproxyClient(LOOPBACK, api_port)
    start(
        ChildProcess("toxiproxy", [str(binary), "-host", LOOPBACK, "-port", str(api_port)]),
        HttpReady(f"{toxiproxy.api_url}/version", timeout_s=ready_timeout_s),
    )
    return toxiproxy


def _python_module(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


@contextmanager
def process_topology(
    endpoint: EndpointSpec,
    *,
    custom: ExternalTarget | None = None,
    log_dir: Path | None = None,
    ready_timeout_s: float = 20.0,
) -> Iterator[Topology]:
    """Toxiproxy, the feature-store stub and the endpoint as child processes on free ports.

    The endpoint reaches the stub only through the ``feature-store`` proxy, and clients reach the
    endpoint through the ``endpoint`` proxy. Every child is stopped on the way out, whatever
    ends the block (an error, Ctrl-C, SIGTERM turned into an exception by the caller).
    """
    own_logs = log_dir is None
    logs = Path(tempfile.mkdtemp(prefix="serving-chaos-")) if log_dir is None else log_dir
    children: list[ChildProcess] = []
    with ExitStack() as stack:
        if own_logs:
            stack.callback(shutil.rmtree, logs, True)

        def start(child: ChildProcess, ready: HttpReady) -> ChildProcess:
            children.append(child)
            return stack.enter_context(running(child, ready, logs))

        toxiproxy = _start_toxiproxy(start, ready_timeout_s)
        stub_port = free_port()
        stub_url = f"http://{LOOPBACK}:{stub_port}"
        start(
            ChildProcess(
                "feature-store",
                _python_module("stub", "--host", LOOPBACK, "--port", str(stub_port)),
            ),
            HttpReady(f"{stub_url}/health", timeout_s=ready_timeout_s),
        )
        store_proxy = toxiproxy.create_proxy(FEATURE_STORE_PROXY, f"{LOOPBACK}:{stub_port}")
        endpoint_port = free_port()
        endpoint_direct = f"http://{LOOPBACK}:{endpoint_port}"
        store_via_proxy = f"http://{LOOPBACK}:{store_proxy.port}"
        served = Served.of(custom, endpoint_direct)
        if custom is None:
            argv = _python_module(*endpoint_command(endpoint, endpoint_port, store_via_proxy))
            env = None
        else:
            argv = custom.expand(custom.command, endpoint_port, store_via_proxy)
            env = custom.environment(endpoint_port, store_via_proxy)
        start(
            ChildProcess("endpoint", argv, env=env),
            HttpReady(served.health_url, timeout_s=ready_timeout_s),
        )
        front = toxiproxy.create_proxy(ENDPOINT_PROXY, f"{LOOPBACK}:{endpoint_port}")
        if not all(child.alive() for child in children):
            raise TopologyError("a service exited during start-up")
        yield Topology(
            endpoint_url=f"http://{LOOPBACK}:{front.port}",
            endpoint_direct_url=endpoint_direct,
            metrics_url=served.metrics_url,
            stub_urls={FEATURE_STORE_PROXY: stub_url},
            toxiproxy=toxiproxy,
            pids={child.name: child.pid for child in children},
            log_dir=logs,
            containers={child.name: ProcessContainer(child, logs) for child in children},
            invocations_path=served.invocations_path,
        )


@contextmanager
def url_topology(target: ExternalTarget, *, ready_timeout_s: float = 20.0) -> Iterator[Topology]:
    """Toxiproxy in front of an endpoint the harness did not start: only the ``endpoint`` proxy,
    no stubs and no services to pause or crash."""
    parsed = urlsplit(target.url)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    health = f"{target.url}{target.health_path}"
    if not HttpReady(health).probe():
        raise TopologyError(
            f"the target endpoint does not answer {health}; start it, or fix target.url / "
            "target.health_path in the scenario"
        )
    logs = Path(tempfile.mkdtemp(prefix="serving-chaos-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, logs, True)

        def start(child: ChildProcess, ready: HttpReady) -> ChildProcess:
            return stack.enter_context(running(child, ready, logs))

        toxiproxy = _start_toxiproxy(start, ready_timeout_s)
        front = toxiproxy.create_proxy(ENDPOINT_PROXY, f"{host}:{port}")
        yield Topology(
            endpoint_url=f"{parsed.scheme}://{LOOPBACK}:{front.port}",
            endpoint_direct_url=target.url,
            metrics_url=f"{target.url}{target.metrics_path}" if target.metrics_path else None,
            stub_urls={},
            toxiproxy=toxiproxy,
            log_dir=logs,
            invocations_path=target.invocations_path,
        )
