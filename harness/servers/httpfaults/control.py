"""The fault control endpoint of an HTTP hop, as aiohttp routes:

- ``GET /_chaos/faults``: the active faults by name;
- ``PUT /_chaos/faults/{name}`` with ``{"faults": [{"kind": ..., ...}, ...]}``: switch on;
- ``DELETE /_chaos/faults/{name}``: switch off one; ``DELETE /_chaos/faults``: all.
"""

from __future__ import annotations

import json

from aiohttp import web

from faults.http import faults_from_body
from harness.servers.httpfaults.active import ActiveFaults

__all__ = ["CONTROL_PREFIX", "add_control_routes"]

CONTROL_PREFIX = "/_chaos/"


def add_control_routes(app: web.Application, faults: ActiveFaults) -> None:
    """Serve ``faults``' control endpoint from ``app``."""

    async def listed(request: web.Request) -> web.Response:
        return web.json_response({"faults": faults.to_json()})

    async def put(request: web.Request) -> web.Response:
        try:
            specs = faults_from_body(json.loads(await request.read()))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        faults.put(request.match_info["name"], specs)
        return web.json_response({"faults": faults.to_json()})

    async def remove(request: web.Request) -> web.Response:
        faults.remove(request.match_info["name"])
        return web.json_response({"faults": faults.to_json()})

    async def clear(request: web.Request) -> web.Response:
        faults.clear()
        return web.json_response({"faults": {}})

    app.router.add_get("/_chaos/faults", listed)
    app.router.add_delete("/_chaos/faults", clear)
    app.router.add_put("/_chaos/faults/{name}", put)
    app.router.add_delete("/_chaos/faults/{name}", remove)
