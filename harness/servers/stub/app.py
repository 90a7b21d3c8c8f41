"""The feature-store stub as an aiohttp application."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from harness.servers.serve import run_server
from harness.servers.stub.config import StubConfig
from harness.servers.stub.features import features_for
from harness.servers.stub.metrics import METRICS_CONTENT_TYPE, StubMetrics
from harness.servers.stub.switch import FaultSwitch, HttpFault

__all__ = ["make_app", "serve"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Stub:
    config: StubConfig
    faults: FaultSwitch
    metrics: StubMetrics


_STUB = web.AppKey("stub", _Stub)


def make_app(config: StubConfig) -> web.Application:
    """Build the stub; each call has its own metrics registry and fault switch."""
    app = web.Application(middlewares=[_count_requests])
    app[_STUB] = _Stub(config=config, faults=FaultSwitch(config.seed), metrics=StubMetrics())
    app.router.add_get("/features/{key}", _features)
    # The enrichment API is the same kind of keyed lookup; one stub can play either part.
    app.router.add_get("/enrich/{key}", _features)
    app.router.add_get("/health", _ok)
    app.router.add_get("/ping", _ok)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/_chaos/faults", _get_fault)
    app.router.add_put("/_chaos/faults", _put_fault)
    app.router.add_delete("/_chaos/faults", _delete_fault)
    return app


def serve(config: StubConfig) -> None:
    """Run the stub until SIGINT or SIGTERM, then shut down cleanly."""
    run_server(
        make_app(config), host=config.host, port=config.port, access_log=False, use_uvloop=True
    )


@web.middleware
async def _count_requests(request: web.Request, handler: _Handler) -> web.StreamResponse:
    # Label by route template, not the raw path, so one series per route, not per key.
    route = request.match_info.route.resource
    path = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[_STUB].metrics.requests.labels(path=path, status=str(status)).inc()


async def _features(request: web.Request) -> web.Response:
    stub = request.app[_STUB]
    fault = stub.faults.current
    if fault is not None:
        if fault.latency_ms > 0:
            await asyncio.sleep(fault.latency_ms / 1000.0)
        if stub.faults.roll():
            return _fault_response(stub, fault)
    key = request.match_info["key"]
    values = features_for(key, n_features=stub.config.n_features, seed=stub.config.seed)
    return web.json_response({"key": key, "features": values})


def _fault_response(stub: _Stub, fault: HttpFault) -> web.Response:
    stub.metrics.injected_faults.labels(status=str(fault.status)).inc()
    headers = {}
    if fault.retry_after_s is not None:
        # Fractional seconds are off-spec but let tests use short waits; common clients parse them.
        headers["Retry-After"] = f"{fault.retry_after_s:g}"
    body = {"error": "injected fault", "status": fault.status, "service": stub.config.name}
    return web.json_response(body, status=fault.status, headers=headers)


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[_STUB].config.name})


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_STUB].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def _get_fault(request: web.Request) -> web.Response:
    fault = request.app[_STUB].faults.current
    return web.json_response({"fault": None if fault is None else fault.to_json()})


async def _put_fault(request: web.Request) -> web.Response:
    try:
        fault = HttpFault.from_json(json.loads(await request.read()))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    request.app[_STUB].faults.set(fault)
    return web.json_response({"fault": fault.to_json()})


async def _delete_fault(request: web.Request) -> web.Response:
    request.app[_STUB].faults.clear()
    return web.json_response({"fault": None})
