"""The load engine against a real local server: a 1 s stall must show in open-loop percentiles
(coordinated omission corrected) and stay hidden from a closed loop; a healthy server gets the
offered rate with nothing dropped. Everything binds 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from harness.cli import main
from harness.loadgen import Constant, Plan, Target, run_plan
from harness.loadgen.native_support import native_available
from harness.loadgen.pacing import run_paced
from harness.loadgen.recorder import Recorder
from tests.engines import engines
from tests.threaded_server import serve_in_thread

pytestmark = pytest.mark.integration

RATE, RUN_S, STALL_AT_S, STALL_S = 500, 4.0, 1.5, 1.0


@dataclass
class Server:
    url: str
    # Monotonic window during which every response waits until its end.
    stall: tuple[float, float] = (0.0, 0.0)


@pytest.fixture
def server() -> Iterator[Server]:
    found = Server("")

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        start, end = found.stall
        now = time.monotonic()
        if start <= now < end:
            await asyncio.sleep(end - now)
        return web.json_response({"predictions": [0.5]})

    app = web.Application()
    app.router.add_post("/invocations", answer)
    with serve_in_thread(app) as base:
        found.url = f"{base}/invocations"
        yield found


def _measure(server: Server, engine: str, concurrency: int | None) -> Recorder:
    recorder = Recorder()
    t0 = time.monotonic() + 0.1
    server.stall = (t0 + STALL_AT_S, t0 + STALL_AT_S + STALL_S)
    target = Target(server.url, timeout_s=5.0)
    plan = Plan(target, Constant(RATE, RUN_S), concurrency=concurrency, engine=engine)
    if engine == "aiohttp":
        asyncio.run(run_plan(plan, recorder, t0))
    else:
        run_paced(plan, recorder, t0)
    return recorder


@pytest.mark.parametrize(
    "engine",
    [
        "aiohttp",
        "http1",
        *engines("curl", "native"),
    ],
)
def test_open_loop_p99_shows_a_stall_that_closed_loop_hides(server: Server, engine: str) -> None:
    open_loop = _measure(server, engine, concurrency=None).phases["overall"]
    closed_loop = _measure(server, engine, concurrency=8).phases["overall"]

    assert open_loop.requests == RATE * RUN_S
    assert open_loop.percentile_ms(99) is not None
    assert open_loop.percentile_ms(99) >= 800  # type: ignore[operator]
    # The closed loop saw the stall (its slowest request) but not in its percentiles.
    assert closed_loop.max_ms() >= 800  # type: ignore[operator]
    assert closed_loop.percentile_ms(99) < 200  # type: ignore[operator]


def test_healthy_server_gets_the_offered_rate_with_nothing_dropped(
    server: Server, tmp_path: Path
) -> None:
    out = tmp_path / "load.json"

    flags = ["--rate", "400", "--duration", "3", "--workers", "2", "--quiet", "--json", str(out)]
    code = main(["load", "--url", server.url, *flags])

    data = json.loads(out.read_text())
    assert code in (0, 1)  # 1 only if this machine's generator fell behind, which it reports
    assert data["mode"] == "open-loop"
    # --engine auto takes the fastest engine for an http:// URL.
    assert data["engine"] == ("native" if native_available() else "http1")
    assert data["requests"] == 1200
    assert data["achieved_rate"] == pytest.approx(400, rel=0.03)
    assert data["dropped"] == 0
    assert data["errors"] == 0
    assert data["statuses"] == {"200": 1200}
    assert [row["offered"] for row in data["timeline"]] == [400, 400, 400]
    assert data["valid"] == (code == 0)
