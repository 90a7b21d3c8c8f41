"""The one start-up sequence, for every backend: Toxiproxy, then one stub per dependency with
a proxy in front of it, then the endpoint told where its dependencies are (through their
proxies), then the proxy clients reach the endpoint through, and, when a scenario has HTTP
faults on the client's hop, the HTTP fault layer in front of that proxy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from harness.errors import TopologyError
from harness.servers.endpoint.cli import config_to_argv
from harness.system.backends.base import (
    Backend,
    Command,
    Harness,
    Image,
    Program,
    Remote,
    RunningService,
    Service,
    Toxiproxy,
)
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from harness.system.spec import ENDPOINT, Dependency, SystemSpec
from harness.system.stubs import put_stub_spec, save_recording
from harness.system.topology import Topology
from harness.system.toxiproxy import ToxiproxyClient

__all__ = ["ENDPOINT_NAME", "FRONT", "TOXIPROXY", "bring_up"]

# The reference endpoint's name in /serving-endpoints/NAME/invocations.
ENDPOINT_NAME = "model"
TOXIPROXY = "toxiproxy"
# The HTTP fault layer between clients and the endpoint's proxy.
FRONT = "http-faults"


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """How to start the endpoint, where it answers, and where its proxy forwards to."""

    program: Program
    env: dict[str, str]
    direct_url: str
    health_url: str
    metrics_url: str | None
    invocations_path: str


def _endpoint(system: SystemSpec, upstreams: dict[Dependency, str]) -> _Endpoint:
    target = system.target
    if target is not None and target.kind == "url":
        metrics = f"{target.url}{target.metrics_path}" if target.metrics_path else None
        health = f"{target.url}{target.health_path}"
        return _Endpoint(Remote(health), {}, target.url, health, metrics, target.invocations_path)
    port = free_port()
    direct = f"http://{LOOPBACK}:{port}"
    if target is None:
        config = replace(
            system.endpoint,
            host=LOOPBACK,
            port=port,
            name=ENDPOINT_NAME,
            upstreams=tuple((dependency.name, url) for dependency, url in upstreams.items()),
        )
        args = ("endpoint", "--host", LOOPBACK, "--port", str(port), *config_to_argv(config))
        path = f"/serving-endpoints/{ENDPOINT_NAME}/invocations"
        # PORT as for a custom server: a compose healthcheck reads it.
        return _Endpoint(
            Harness(args),
            {"PORT": str(port)},
            direct,
            f"{direct}/health",
            f"{direct}/metrics",
            path,
        )
    env = target.environment(port, upstreams)
    program: Program
    if target.kind == "command":
        program = Command(tuple(target.expand(target.command, port, upstreams)))
    else:
        program = Image(target.image, tuple(target.expand(target.args, port, upstreams)))
    metrics = f"{direct}{target.metrics_path}" if target.metrics_path else None
    return _Endpoint(
        program, env, direct, f"{direct}{target.health_path}", metrics, target.invocations_path
    )


@contextmanager
def bring_up(
    system: SystemSpec, backend: Backend, *, ready_timeout_s: float = 30.0
) -> Iterator[Topology]:
    """``system`` running on ``backend`` for the block; everything is stopped when it ends,
    however it ends (an error, Ctrl-C, SIGTERM turned into an exception by the caller).
    Recordings of ``proxy`` dependencies are written before their stubs stop."""
    with backend:
        api_port = free_port()
        toxiproxy = ToxiproxyClient(LOOPBACK, api_port)
        owned = {
            TOXIPROXY: backend.start(
                Service(
                    TOXIPROXY,
                    Toxiproxy(("-host", LOOPBACK, "-port", str(api_port))),
                    HttpReady(f"{toxiproxy.api_url}/version", timeout_s=ready_timeout_s),
                )
            )
        }
        services: dict[str, RunningService] = {}
        readiness: dict[str, HttpReady] = {}
        stub_urls: dict[str, str] = {}
        upstreams: dict[Dependency, str] = {}
        for dependency in system.dependencies:
            port = free_port()
            url = f"http://{LOOPBACK}:{port}"
            args = ("stub", "--host", LOOPBACK, "--port", str(port), "--name", dependency.name)
            ready = HttpReady(f"{url}/health", timeout_s=ready_timeout_s)
            # PORT as for a custom server: a compose healthcheck reads it.
            env = {"PORT": str(port)}
            services[dependency.name] = backend.start(
                Service(dependency.name, Harness(args), ready, env)
            )
            if dependency.spec:
                # Sent over HTTP, not as a file: a container shares no files with the host.
                put_stub_spec(dependency.name, url, dependency.spec)
            proxy = toxiproxy.create_proxy(dependency.name, f"{LOOPBACK}:{port}")
            stub_urls[dependency.name] = url
            upstreams[dependency] = f"http://{LOOPBACK}:{proxy.port}"
        endpoint = _endpoint(system, upstreams)
        ready = HttpReady(endpoint.health_url, timeout_s=ready_timeout_s)
        services[ENDPOINT] = backend.start(Service(ENDPOINT, endpoint.program, ready, endpoint.env))
        readiness[ENDPOINT] = ready
        direct = urlsplit(endpoint.direct_url)
        default_port = 443 if direct.scheme == "https" else 80
        front = toxiproxy.create_proxy(ENDPOINT, f"{direct.hostname}:{direct.port or default_port}")
        endpoint_url = f"{direct.scheme}://{LOOPBACK}:{front.port}"
        front_control: str | None = None
        if system.http_front:
            endpoint_url, front_control = _start_front(
                backend, owned, f"{LOOPBACK}:{front.port}", ready_timeout_s
            )
        dead = [name for name, svc in {**owned, **services}.items() if not svc.alive()]
        if dead:
            raise TopologyError(f"{', '.join(dead)} exited during start-up")
        try:
            yield Topology(
                endpoint_url=endpoint_url,
                endpoint_direct_url=endpoint.direct_url,
                metrics_url=endpoint.metrics_url,
                stub_urls=stub_urls,
                toxiproxy=toxiproxy,
                system=system,
                backend=backend.name,
                log_dir=getattr(backend, "log_dir", None),
                containers=services if system.kind != "url" else {},
                owned=owned,
                invocations_path=endpoint.invocations_path,
                ready=readiness,
                front_control_url=front_control,
            )
        except BaseException:
            # Whatever ended the block is the error to report; a recording is kept if it can be.
            with contextlib.suppress(TopologyError):
                _save_recordings(system, stub_urls)
            raise
        _save_recordings(system, stub_urls)


def _save_recordings(system: SystemSpec, stub_urls: dict[str, str]) -> None:
    for dependency in system.dependencies:
        if dependency.record:
            save_recording(dependency.name, stub_urls[dependency.name], dependency.record)


def _start_front(
    backend: Backend, owned: dict[str, RunningService], upstream: str, ready_timeout_s: float
) -> tuple[str, str]:
    """The HTTP fault layer in front of the endpoint's proxy: where clients reach it, and
    where its fault control answers. The harness owns it: its death ends a run."""
    port, control = free_port(), free_port()
    args = (
        "front",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--control-port",
        str(control),
        "--upstream",
        upstream,
    )
    control_url = f"http://{LOOPBACK}:{control}"
    ready = HttpReady(f"{control_url}/health", timeout_s=ready_timeout_s)
    owned[FRONT] = backend.start(Service(FRONT, Harness(args), ready, {"PORT": str(port)}))
    return f"http://{LOOPBACK}:{port}", control_url
