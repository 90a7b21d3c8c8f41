"""The stub as an aiohttp application.

Besides the API calls of its kind it serves ``/health`` (and ``/ping``), ``/metrics``, the HTTP
fault control (``/_chaos/faults``), its spec (``GET``/``PUT /_chaos/spec``: the harness sends a
stub its spec over HTTP, the same way for a process and a container) and a recording proxy's
recording (``GET``/``DELETE /_chaos/recording``). Every other path is an API call, answered by
whatever the current spec says, so a new spec takes effect without new routes.
"""

from __future__ import annotations

import asyncio
import json
import random

from aiohttp import web

from harness.servers.httpfaults import ActiveFaults, add_control_routes
from harness.servers.httpfaults.aiohttp_layer import BrokenConnection, carry_out
from harness.servers.serve import run_server
from harness.servers.stub.config import StubConfig
from harness.servers.stub.metrics import METRICS_CONTENT_TYPE, StubMetrics
from harness.servers.stub.proxy import ProxyServed
from harness.servers.stub.recording import Exchange, recording_to_json
from harness.servers.stub.served import FeaturesServed, ReplayServed, RoutesServed, Served
from harness.servers.stub.spec import (
    FeaturesSpec,
    ReplaySpec,
    RoutesSpec,
    StubSpec,
    StubSpecError,
    stub_spec_from_json,
    stub_spec_to_json,
)

__all__ = ["StubState", "make_app", "recording_of", "serve"]

_OWN_PATHS = frozenset({"/health", "/ping", "/metrics"})
_CONTROL = "/_chaos"


class StubState:
    """What one stub app serves. It changes: ``replace`` puts a new spec in place."""

    def __init__(self, config: StubConfig, spec: StubSpec) -> None:
        self.config = config
        self.faults = ActiveFaults(config.seed)
        self.metrics = StubMetrics()
        # Draws the bytes of ``random_bytes`` answers; seeded so a run's garbage repeats.
        self.dice = random.Random(config.seed)
        self.spec = spec
        self.served = _served(spec, config.seed)

    async def replace(self, spec: StubSpec) -> None:
        """Serve ``spec`` from the next call on; what the old spec held (a proxy's client
        session, its recording) is let go."""
        old = self.served
        self.spec, self.served = spec, _served(spec, self.config.seed)
        await old.close()

    async def close(self) -> None:
        await self.served.close()


_STUB = web.AppKey("stub", StubState)


def make_app(config: StubConfig, spec: StubSpec | None = None) -> web.Application:
    """A stub serving ``spec`` (the feature store seeded by ``config.seed`` when None), with its
    own metrics registry and fault switch."""
    app = web.Application()
    state = StubState(config, spec if spec is not None else FeaturesSpec(seed=config.seed))
    app[_STUB] = state
    app.router.add_get("/health", _ok)
    app.router.add_get("/ping", _ok)
    app.router.add_get("/metrics", _metrics)
    add_control_routes(app, state.faults)
    app.router.add_get("/_chaos/spec", _get_spec)
    app.router.add_put("/_chaos/spec", _put_spec)
    app.router.add_get("/_chaos/recording", _get_recording)
    app.router.add_delete("/_chaos/recording", _clear_recording)
    app.router.add_route("*", "/{tail:.*}", _api)
    app.on_cleanup.append(_close)
    return app


def serve(config: StubConfig, spec: StubSpec | None = None) -> None:
    """Run the stub until SIGINT or SIGTERM, then shut down cleanly."""
    run_server(
        make_app(config, spec),
        host=config.host,
        port=config.port,
        access_log=False,
        use_uvloop=True,
    )


def recording_of(app: web.Application) -> tuple[Exchange, ...]:
    """What a recording proxy stub's app has recorded so far (nothing for other kinds)."""
    served = app[_STUB].served
    return tuple(served.exchanges) if isinstance(served, ProxyServed) else ()


def _served(spec: StubSpec, seed: int) -> Served:
    if isinstance(spec, FeaturesSpec):
        return FeaturesServed(spec)
    if isinstance(spec, RoutesSpec):
        return RoutesServed(spec, seed)
    if isinstance(spec, ReplaySpec):
        return ReplayServed(spec)
    return ProxyServed(spec)


async def _api(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path in _OWN_PATHS:
        return _error(405, f"{path} answers GET only, not {request.method}")
    if path == _CONTROL or path.startswith(_CONTROL + "/"):
        return _error(404, f"no control endpoint {request.method} {path}")
    stub = request.app[_STUB]
    stub.metrics.saw_connection(request.transport)
    match = await stub.served.match(request)
    if match.unmatched:
        stub.metrics.unmatched.inc()
    decision = stub.faults.decide()
    for kind in decision.injected:
        stub.metrics.faults_injected.labels(kind=kind).inc()
    status = "500"
    try:
        response = await carry_out(request, decision, match.respond, stub.dice)
        status = "malformed" if isinstance(response, BrokenConnection) else str(response.status)
        return response
    except (asyncio.CancelledError, ConnectionError):
        status = "disconnected"
        raise
    finally:
        stub.metrics.calls.labels(route=match.route, status=status).inc()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _ok(request: web.Request) -> web.Response:
    stub = request.app[_STUB]
    return web.json_response({"status": "ok", "service": stub.config.name, "kind": stub.spec.kind})


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_STUB].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def _get_spec(request: web.Request) -> web.Response:
    return web.json_response({"spec": stub_spec_to_json(request.app[_STUB].spec)})


async def _put_spec(request: web.Request) -> web.Response:
    try:
        doc = json.loads(await request.read())
    except ValueError as exc:
        return _error(400, f"expected a stub spec as JSON but the body does not parse: {exc}")
    try:
        spec = stub_spec_from_json(doc)
    except StubSpecError as exc:
        return web.json_response({"error": exc.located(), "field": exc.field}, status=400)
    await request.app[_STUB].replace(spec)
    return web.json_response({"kind": spec.kind})


async def _get_recording(request: web.Request) -> web.Response:
    stub = request.app[_STUB]
    served = stub.served
    if not isinstance(served, ProxyServed):
        return _error(404, f"only a proxy stub records; this one is of kind {stub.spec.kind!r}")
    if not served.spec.record:
        return _error(404, "this proxy stub does not record (its spec has record: false)")
    return web.json_response(recording_to_json(served.spec.upstream, served.exchanges))


async def _clear_recording(request: web.Request) -> web.Response:
    served = request.app[_STUB].served
    if isinstance(served, ProxyServed):
        served.exchanges.clear()
    return web.json_response({"exchanges": 0})


async def _close(app: web.Application) -> None:
    await app[_STUB].close()
