"""The fault layer's ledger of a client under test: each request with ``/_call/<index>`` before
its path is forwarded without it and noted as an attempt of that logical call, with its status,
times and the Retry-After its answer gave."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from faults.http import RateLimit
from harness.servers.front import serve_front
from tests.waiting import run_async

pytestmark = pytest.mark.integration

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@asynccontextmanager
async def _upstream() -> AsyncIterator[tuple[int, list[str]]]:
    """An upstream that says which path it got, and sheds every path ending in /busy."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        if request.path.endswith("/busy"):
            return web.json_response({}, status=429, headers={"Retry-After": "2"})
        return web.json_response({"path": request.path_qs})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1], seen
    finally:
        await runner.cleanup()


def _ledger(control_url: str, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(f"{control_url}/_chaos/calls", method=method)
    with _DIRECT.open(request, timeout=5) as response:
        decoded: dict[str, object] = json.loads(response.read())
        return decoded


def test_tagged_attempts_are_untagged_upstream_and_noted_by_call() -> None:
    async def scenario() -> None:
        async with _upstream() as (port, seen), serve_front(("127.0.0.1", port)) as front:
            async with aiohttp.ClientSession() as session:
                for path in ("/_call/7/invocations?x=1", "/_call/7/busy", "/_call/9", "/plain"):
                    async with session.post(f"{front.url}{path}", json={}) as answer:
                        await answer.read()
                # An answer made up by the layer is noted too, with its own Retry-After.
                front.faults.put("shed", (RateLimit(rps=0.5, burst=1),))
                for _ in range(2):
                    async with session.post(f"{front.url}/_call/11/invocations") as answer:
                        await answer.read()
            assert seen == ["/invocations?x=1", "/busy", "/", "/plain", "/invocations"]
            ledger = await asyncio.to_thread(_ledger, front.control_url)
            calls = ledger["calls"]
            assert isinstance(calls, dict)
            assert sorted(calls) == ["11", "7", "9"]
            (first, second) = calls["7"]
            assert (first[2], first[3]) == ("200", None)
            assert (second[2], second[3]) == ("429", 2.0)
            assert second[0] >= first[1]
            assert [attempt[2] for attempt in calls["11"]] == ["200", "429"]
            assert calls["11"][1][3] == 2.0
            cleared = await asyncio.to_thread(_ledger, front.control_url, "DELETE")
            assert cleared == {"calls": {}}
            assert (await asyncio.to_thread(_ledger, front.control_url))["calls"] == {}

    run_async(scenario)
