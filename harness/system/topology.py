"""A running system: where to reach the endpoint, the stubs and Toxiproxy, the services by
name, and the one handle faults act through."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from faults.http import clear_http_faults
from harness.errors import TopologyError
from harness.system.backends.base import RunningService
from harness.system.readiness import HttpReady
from harness.system.spec import ENDPOINT, SystemSpec
from harness.system.toxiproxy import ToxiproxyClient

__all__ = ["Topology", "describe_death"]


@dataclass(frozen=True, slots=True)
class Topology:
    """A running topology.

    ``endpoint_url`` goes through Toxiproxy. ``containers`` maps each service of the system
    under test to its running service (a docker container, or a process behind the same
    verbs); ``owned`` holds the services the harness itself depends on (Toxiproxy), which must
    never die during a run.
    """

    endpoint_url: str
    endpoint_direct_url: str
    metrics_url: str | None
    stub_urls: dict[str, str]
    toxiproxy: ToxiproxyClient
    system: SystemSpec = field(default_factory=SystemSpec)
    backend: str = "process"
    log_dir: Path | None = None
    containers: Mapping[str, RunningService] = field(default_factory=dict)
    owned: Mapping[str, RunningService] = field(default_factory=dict)
    invocations_path: str = "/invocations"
    # How each service of the system under test is known to be ready, for a restart.
    ready: Mapping[str, HttpReady] = field(default_factory=dict)
    # The control endpoint of the HTTP fault layer in front of the endpoint, when there is one.
    front_control_url: str | None = None

    @property
    def invocations_url(self) -> str:
        return f"{self.endpoint_url}{self.invocations_path}"

    @property
    def pids(self) -> dict[str, int]:
        """Host pids of every service that has one (processes and containers alike)."""
        found = {name: service.pid for name, service in {**self.owned, **self.containers}.items()}
        return {name: pid for name, pid in found.items() if pid is not None}

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

    def container(self, service: str) -> RunningService:
        found = self.containers.get(service)
        if found is None:
            raise TopologyError(f"no service {service!r}; services: {sorted(self.containers)}")
        return found

    @property
    def fault_controls(self) -> dict[str, str]:
        """Where each HTTP hop's fault control answers: every stub, and the fault layer in
        front of the endpoint when the system has one."""
        hops = dict(self.stub_urls)
        if self.front_control_url is not None:
            hops[ENDPOINT] = self.front_control_url
        return hops

    def fault_control_url(self, target: str) -> str:
        found = self.fault_controls.get(target)
        if found is None:
            raise TopologyError(
                f"no HTTP hop {target!r}; hops with HTTP faults: {sorted(self.fault_controls)}"
            )
        return found

    def lost_owned_service(self) -> str | None:
        """The name of a harness-owned service that is no longer running, if any."""
        return next((name for name, svc in self.owned.items() if not svc.alive()), None)

    def reset(self) -> None:
        """Back to the state right after start-up: services resumed or restarted, every
        proxy enabled with no toxic, every stub's HTTP fault cleared."""
        for name, service in self.containers.items():
            _resume(service, self.ready.get(name))
        self.toxiproxy.reset()
        for name, url in self.fault_controls.items():
            clear_http_faults(name, url)


def _resume(service: RunningService, ready: HttpReady | None) -> None:
    if not service.alive():
        service.start()
        if ready is not None:
            ready.wait(service)
        return
    service.reload()
    if service.status == "paused":
        service.unpause()


def describe_death(name: str, service: RunningService, lines: int = 20) -> str:
    """One paragraph on a service that died: its exit code and last log lines."""
    code = None
    with contextlib.suppress(Exception):
        code = service.exit_code()
    logs = ""
    with contextlib.suppress(Exception):
        logs = service.logs(lines)
    text = f"{name} exited (code {code})"
    return f"{text}\n--- last log lines of {name} ---\n{logs}" if logs else text
