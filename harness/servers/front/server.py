"""The fault layer running in an event loop: the data port clients call, and on a port of its
own the control server (health, metrics, and the fault control endpoint), so no path a client
calls is ever shadowed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from harness.servers.front.counters import METRICS_CONTENT_TYPE, FrontCounters, FrontMetrics
from harness.servers.front.downstream import ClientSide
from harness.servers.front.plane import Plane
from harness.servers.httpfaults import ActiveFaults, add_control_routes

__all__ = ["Front", "serve_front", "start_front"]

# Listen backlog of the data port: bursts of new connections are what load tests make.
_BACKLOG = 1024
# How long closing waits for client connections to finish their last write before aborting.
_CLOSE_GRACE_S = 1.0


class Front:
    """A running fault layer. ``url`` is where clients call (forwarded to the upstream),
    ``control_url`` where health, metrics and the fault control answer, ``faults`` the
    faults it applies (switch them here in-process, or through the control endpoint)."""

    def __init__(
        self,
        server: asyncio.AbstractServer,
        runner: web.AppRunner,
        plane: Plane,
        metrics: FrontMetrics,
        url: str,
        control_url: str,
    ) -> None:
        self._server = server
        self._runner = runner
        self._plane = plane
        self.metrics = metrics
        self.url = url
        self.control_url = control_url

    @property
    def faults(self) -> ActiveFaults:
        return self._plane.faults

    @property
    def counters(self) -> FrontCounters:
        return self.metrics.counters

    @property
    def upstream(self) -> tuple[str, int]:
        return self._plane.upstream

    async def close(self) -> None:
        """Stop listening, close every connection, and stop the control server."""
        self._server.close()
        self._plane.close()
        await self._plane.closed(_CLOSE_GRACE_S)
        await self._server.wait_closed()
        await self._runner.cleanup()


async def start_front(
    upstream: tuple[str, int],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    control_port: int = 0,
    seed: int = 0,
) -> Front:
    """Start the fault layer in the running event loop; port 0 takes a free one."""
    loop = asyncio.get_running_loop()
    counters = FrontCounters()
    metrics = FrontMetrics(counters)
    plane = Plane(loop, upstream, ActiveFaults(seed), counters, random.Random(seed))
    server = await loop.create_server(
        lambda: ClientSide(plane), host, port, backlog=_BACKLOG, reuse_address=True
    )
    runner = web.AppRunner(_control_app(plane, metrics), access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, control_port, reuse_address=True)
        await site.start()
    except BaseException:
        server.close()
        await runner.cleanup()
        raise
    data_port = server.sockets[0].getsockname()[1]
    bound_control = runner.addresses[0][1]
    return Front(
        server,
        runner,
        plane,
        metrics,
        f"http://{_url_host(host)}:{data_port}",
        f"http://{_url_host(host)}:{bound_control}",
    )


@asynccontextmanager
async def serve_front(
    upstream: tuple[str, int],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    control_port: int = 0,
    seed: int = 0,
) -> AsyncIterator[Front]:
    """``async with serve_front(("127.0.0.1", 8080)) as front``: the fault layer for the
    block, in the running event loop; everything it opened is closed when the block ends."""
    front = await start_front(upstream, host=host, port=port, control_port=control_port, seed=seed)
    try:
        yield front
    finally:
        await front.close()


def _control_app(plane: Plane, metrics: FrontMetrics) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "front"})

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    app = web.Application()

    async def calls(request: web.Request) -> web.Response:
        return web.json_response(plane.ledger.to_json())

    async def forget(request: web.Request) -> web.Response:
        plane.ledger.clear()
        return web.json_response({"calls": {}})

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", scrape)
    # Attempts by logical call of a client under test (see harness.servers.front.ledger).
    app.router.add_get("/_chaos/calls", calls)
    app.router.add_delete("/_chaos/calls", forget)
    add_control_routes(app, plane.faults)
    return app


def _url_host(host: str) -> str:
    # A wildcard bind is reached on loopback from this machine; IPv6 literals need brackets.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
