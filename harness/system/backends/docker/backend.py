"""The docker backend: each service a labelled container on the host network, binding
127.0.0.1 on the free port the wiring chose, so addresses, proxies and tests are identical on
both backends. Every container of a run is removed when the backend's block ends (normal exit,
exception, Ctrl-C); containers of runs whose harness died are reaped before a new run starts.
A user's server given as a command runs as a process beside them."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from harness.errors import UsageError
from harness.system.backends.base import (
    Command,
    Harness,
    Image,
    Program,
    Remote,
    RunningService,
    Service,
    Toxiproxy,
)
from harness.system.backends.children import ChildProcess, ProcessService, running
from harness.system.backends.docker import labels
from harness.system.backends.docker.compose import ComposeFile, ComposeService, HealthCheck
from harness.system.backends.docker.containers import ServiceSpec, last_logs, start_container
from harness.system.backends.docker.engine import connect
from harness.system.backends.docker.images import (
    LOCAL_BASE,
    TOXIPROXY_IMAGE,
    ImageRecipe,
    ensure_serving_image,
)
from harness.system.backends.remote import reach

__all__ = ["DockerBackend", "DockerService", "DockerSettings"]


class DockerService:
    """A service's container: the docker verbs faults use, plus what readiness and the
    watchdog ask."""

    def __init__(self, name: str, container: Any, check: HealthCheck | None = None) -> None:
        self.name = name
        self.container = container
        self._host_pid: int | None = None
        self._check = None if check is None or not check.test else _Check(check)

    def _state(self) -> dict[str, Any]:
        from docker.errors import NotFound

        try:
            self.container.reload()
        except NotFound:
            return {"Status": "removed", "ExitCode": -1}
        state: dict[str, Any] = self.container.attrs.get("State", {})
        return state

    def exit_code(self) -> int | None:
        state = self._state()
        if state.get("Status") in {"exited", "dead", "removed"}:
            return int(state.get("ExitCode", -1))
        return None

    def health(self) -> str | None:
        return None if self._check is None else self._check.status(self.container)

    def logs(self, lines: int = 40) -> str:
        return last_logs(self.container, lines)

    def alive(self) -> bool:
        # The watchdog asks several times a second while load runs in this process: a look at
        # /proc costs nothing, where an engine call per service would cost the generator time.
        if self._host_pid is None:
            self._host_pid = self.pid
        if self._host_pid is not None and _running(self._host_pid):
            return True
        self._host_pid = None
        return self.exit_code() is None

    @property
    def pid(self) -> int | None:
        pid = self._state().get("Pid")
        return int(pid) if pid else None

    @property
    def status(self) -> str:
        return str(self.container.status)

    @property
    def attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = self.container.attrs
        return attrs

    def reload(self) -> None:
        self.container.reload()

    def pause(self) -> None:
        self.container.pause()

    def unpause(self) -> None:
        self.container.unpause()

    def kill(self, signal: str = "SIGKILL") -> None:
        self.container.kill(signal=signal)

    def stop(self, timeout: int = 5) -> None:
        self.container.stop(timeout=timeout)

    def start(self) -> None:
        self.container.start()
        self._host_pid = None

    def update(self, **changes: int) -> None:
        self.container.update(**changes)


def _running(pid: int) -> bool:
    """Whether host process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True, slots=True)
class DockerSettings:
    """What the docker backend is told by the edges (CLI, plugin): the base image of the
    serving image, or a ready serving image, and a compose file with each service's limits,
    environment, healthcheck and (for Toxiproxy) image."""

    base_image: str = LOCAL_BASE
    serving_image: str | None = None
    compose: ComposeFile | None = None
    log_dir: Path | None = None


class _Check:
    """A compose healthcheck run by the harness, in the container, while it waits for the
    service (compose's meaning: ``retries`` failures in a row after ``start_period`` make it
    unhealthy). Once healthy it is not run again: the engine's own checks would keep running
    beside the load, each one a process in the service's CPU share."""

    def __init__(self, check: HealthCheck) -> None:
        self._check = check
        self._started = time.monotonic()
        self._next = 0.0
        self._failures = 0
        self._status = "starting"

    def status(self, container: Any) -> str:
        now = time.monotonic()
        if self._status != "starting" or now < self._next:
            return self._status
        self._next = now + self._check.interval_s
        test = self._check.test
        argv = ["/bin/sh", "-c", test[0]] if self._check.shell else list(test)
        if container.exec_run(argv).exit_code == 0:
            self._status = "healthy"
        elif now - self._started >= self._check.start_period_s:
            self._failures += 1
            if self._failures >= max(self._check.retries, 1):
                self._status = "unhealthy"
        return self._status


class DockerBackend:
    """Starts services as containers; the serving image is built (or found by content hash)
    the first time a harness service needs it."""

    name = "docker"

    def __init__(self, settings: DockerSettings, *, client: Any = None) -> None:
        self._settings = settings
        self._own_client = client is None
        self._client = client
        self._run_id = labels.new_run_id()
        self._containers: dict[str, Any] = {}
        self._serving_image = settings.serving_image
        # A target command runs as a process beside the containers.
        self._processes = ExitStack()

    @property
    def run_id(self) -> str:
        return self._run_id

    def __enter__(self) -> Self:
        if self._client is None:
            self._client = connect()
        labels.reap_dead_runs(self._client)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._processes.close()
        # Logs first: once removed, a container's output is gone for good.
        if self._settings.log_dir is not None:
            with contextlib.suppress(Exception):
                self._save_logs(self._settings.log_dir)
        self._remove_run()
        if self._own_client and self._client is not None:
            self._client.close()

    def start(self, service: Service) -> RunningService:
        if isinstance(service.program, Remote):
            return reach(service)
        if isinstance(service.program, Command):
            return self._start_process(service, service.program)
        spec = self._spec(service.name, service.program, service.env)
        container = start_container(self._client, self._run_id, spec)
        self._containers[service.name] = container
        compose = self._compose_service(service.name)
        check = None if compose is None else compose.healthcheck
        running = DockerService(service.name, container, check)
        service.ready.wait(running)
        return running

    def _spec(self, name: str, program: Program, env: dict[str, str]) -> ServiceSpec:
        if isinstance(program, Toxiproxy):
            image = self._compose_image("toxiproxy") or TOXIPROXY_IMAGE
            return self._with_compose(name, image, program.args, env)
        if isinstance(program, Harness):
            return self._with_compose(name, self._serving(), program.args, env)
        if isinstance(program, Image):
            return self._with_compose(name, program.image, program.args, env)
        raise UsageError(f"the docker backend cannot start {program!r}")

    def _start_process(self, service: Service, program: Command) -> RunningService:
        """A user's server started by a command: a process on this machine, reaching the
        containers on the same loopback (they use host networking)."""
        log_dir = self._settings.log_dir
        if log_dir is None:
            log_dir = Path(tempfile.mkdtemp(prefix="serving-chaos-"))
            self._processes.callback(shutil.rmtree, log_dir, True)
        child = ChildProcess(service.name, list(program.argv), env=service.env or None)
        self._processes.enter_context(running(child, service.ready, log_dir))
        return ProcessService(child, log_dir)

    def _serving(self) -> str:
        if self._serving_image is None:
            recipe = ImageRecipe(base=self._settings.base_image)
            self._serving_image = ensure_serving_image(self._client, recipe)
        return self._serving_image

    def _compose_service(self, name: str) -> ComposeService | None:
        compose = self._settings.compose
        return None if compose is None else compose.services.get(name)

    def _compose_image(self, name: str) -> str | None:
        service = self._compose_service(name)
        return None if service is None else service.image

    def _with_compose(
        self, name: str, image: str, command: tuple[str, ...], env: dict[str, str]
    ) -> ServiceSpec:
        """Limits and environment from the compose file; ports and commands stay
        the harness's own, so every run still gets free loopback ports."""
        service = self._compose_service(name)
        if service is None:
            return ServiceSpec(name, image, command, environment=dict(env))
        return ServiceSpec(
            name,
            image,
            command,
            environment={**service.environment, **env},
            cpus=service.limits.cpus,
            memory_bytes=service.limits.memory_bytes,
        )

    def _save_logs(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        for service, container in self._containers.items():
            (log_dir / f"{service}.log").write_text(last_logs(container, lines=10_000) + "\n")

    def _remove_run(self) -> None:
        """Force-remove every container labelled with this run, found by label so none is
        missed."""
        from docker.errors import APIError

        if self._client is None:
            return
        for container in labels.run_containers(self._client, self._run_id):
            with contextlib.suppress(APIError):
                container.remove(force=True)
