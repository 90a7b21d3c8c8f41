"""The one start-up sequence, for every backend: Toxiproxy, then one stub per dependency with
a proxy in front of it, then the endpoint told where its dependencies are (through their
proxies), then the proxy clients reach the endpoint through."""

from __future__ import annotations

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
from harness.system.spec import ENDPOINT, SystemSpec
from harness.system.topology import Topology
from harness.system.toxiproxy import ToxiproxyClient

__all__ = ["ENDPOINT_NAME", "TOXIPROXY", "bring_up"]

# The reference endpoint's name in /serving-endpoints/NAME/invocations.
ENDPOINT_NAME = "model"
TOXIPROXY = "toxiproxy"


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """How to start the endpoint, where it answers, and where its proxy forwards to."""

    program: Program
    env: dict[str, str]
    direct_url: str
    health_url: str
    metrics_url: str | None
    invocations_path: str


def _endpoint(system: SystemSpec, upstreams: dict[str, str]) -> _Endpoint:
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
            upstreams=tuple(upstreams.items()),
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
    however it ends (an error, Ctrl-C, SIGTERM turned into an exception by the caller)."""
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
        upstreams: dict[str, str] = {}
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
            proxy = toxiproxy.create_proxy(dependency.name, f"{LOOPBACK}:{port}")
            stub_urls[dependency.name] = url
            upstreams[dependency.name] = f"http://{LOOPBACK}:{proxy.port}"
        endpoint = _endpoint(system, upstreams)
        ready = HttpReady(endpoint.health_url, timeout_s=ready_timeout_s)
        services[ENDPOINT] = backend.start(Service(ENDPOINT, endpoint.program, ready, endpoint.env))
        readiness[ENDPOINT] = ready
        direct = urlsplit(endpoint.direct_url)
        default_port = 443 if direct.scheme == "https" else 80
        front = toxiproxy.create_proxy(ENDPOINT, f"{direct.hostname}:{direct.port or default_port}")
        dead = [name for name, svc in {**owned, **services}.items() if not svc.alive()]
        if dead:
            raise TopologyError(f"{', '.join(dead)} exited during start-up")
        yield Topology(
            endpoint_url=f"{direct.scheme}://{LOOPBACK}:{front.port}",
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
        )
