"""The self-paced engines (curl, http1, native) against a tiny local aiohttp server: what they
count, how they name failures, and that open and closed loops keep their contracts. Everything
binds 127.0.0.1; the curl cases skip without pycurl, the native ones where it is not built."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from harness.errors import UsageError
from harness.loadgen import Constant, Plan, PredictionsPerRecord, RecordsBody, Target
from harness.loadgen.histograms import Tally
from harness.loadgen.pacing import run_paced
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from tests.engines import engines
from tests.threaded_server import serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(params=engines("curl", "http1", "native"))
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@dataclass
class Server:
    base: str = ""
    bodies: list[bytes] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)
    inflight: int = 0
    max_inflight: int = 0

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    found = Server()

    async def answer(request: web.Request) -> web.Response:
        found.inflight += 1
        found.max_inflight = max(found.max_inflight, found.inflight)
        try:
            found.bodies.append(await request.read())
            if request.transport is not None:
                found.peers.add(request.transport.get_extra_info("peername"))
            kind = request.match_info["kind"]
            if kind == "slow":
                await asyncio.sleep(2.0)
            if kind == "busy":
                await asyncio.sleep(0.02)
            if kind.isdigit():
                return web.Response(status=int(kind), text="nope")
            if kind == "wrong":
                return web.json_response({"predictions": []})
            return web.json_response({"predictions": [0.5]})
        finally:
            found.inflight -= 1

    app = web.Application()
    app.router.add_route("*", "/{kind}", answer)
    with serve_in_thread(app) as base:
        found.base = f"{base}/"
        yield found


def _run(
    engine: str, target: Target, rate: float, seconds: float, **plan: int
) -> tuple[Tally, GeneratorStats]:
    recorder = Recorder()
    full = Plan(target, Constant(rate, seconds), engine=engine, **plan)
    stats = run_paced(full, recorder, time.monotonic() + 0.05)
    return recorder.phases["overall"], stats


def test_open_loop_sends_every_scheduled_request_once(engine: str, server: Server) -> None:
    overall, stats = _run(engine, Target(server.url("ok"), method="GET"), rate=200, seconds=1.0)

    assert (stats.scheduled, stats.sent, stats.dropped) == (200, 200, 0)
    assert overall.statuses == {200: 200}
    assert overall.failures == {}
    assert len(server.bodies) == 200


def test_open_loop_reuses_connections(engine: str, server: Server) -> None:
    _run(engine, Target(server.url("ok"), method="GET"), rate=200, seconds=1.0)

    # One request at a time on a healthy local server: a handful of connections, not 200.
    assert len(server.peers) <= 8


def test_status_codes_are_counted_and_5xx_are_errors(engine: str, server: Server) -> None:
    overall, _ = _run(engine, Target(server.url("503"), method="GET"), rate=100, seconds=0.5)

    assert overall.statuses == {503: 50}
    assert overall.errors == 50
    assert overall.errors_by_class() == {"503": 50}


def test_slow_answers_time_out(engine: str, server: Server) -> None:
    target = Target(server.url("slow"), method="GET", timeout_s=0.3)

    overall, stats = _run(engine, target, rate=20, seconds=0.5)

    assert overall.failures == {"timeout": 10}
    assert overall.statuses == {}
    assert stats.sent == 10
    assert overall.service_max_ms() is not None
    assert 250 <= overall.service_max_ms() < 1500  # type: ignore[operator]


def test_refused_connections_are_connection_errors(engine: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    target = Target(f"http://127.0.0.1:{port}/", method="GET", timeout_s=1.0)

    overall, _ = _run(engine, target, rate=50, seconds=0.2)

    assert overall.failures == {"connection": 10}


def test_a_2xx_with_a_wrong_body_fails_validation(engine: str, server: Server) -> None:
    target = Target(server.url("wrong"), validator=PredictionsPerRecord(1))

    overall, _ = _run(engine, target, rate=100, seconds=0.3)

    assert overall.failures == {"invalid_body": 30}
    assert overall.statuses == {}


def test_post_bodies_are_the_ones_of_each_request(engine: str, server: Server) -> None:
    body = RecordsBody(records=2, keyspace=1000)
    target = Target(server.url("ok"), body=body, validator=PredictionsPerRecord(1))

    overall, _ = _run(engine, target, rate=100, seconds=0.3)

    assert overall.statuses == {200: 30}
    assert sorted(server.bodies) == sorted(body(i) for i in range(30))
    assert json.loads(server.bodies[0])["dataframe_records"][0]["entity_id"].startswith("user-")


def test_worker_takes_only_its_share_of_the_schedule(engine: str, server: Server) -> None:
    body = RecordsBody(records=1)
    target = Target(server.url("ok"), body=body)

    overall, stats = _run(engine, target, rate=100, seconds=0.4, worker=1, workers=2)

    assert stats.sent == 20
    assert overall.statuses == {200: 20}
    assert sorted(server.bodies) == sorted(body(i) for i in range(1, 40, 2))


def test_open_loop_counts_late_requests_from_their_intended_start(
    engine: str, server: Server
) -> None:
    # One handle for 20 ms answers at 200/s: requests queue for the handle, and the generator
    # owns up to it rather than reporting the queueing as the endpoint's latency only.
    target = Target(server.url("busy"), method="GET", max_connections=1)

    overall, stats = _run(engine, target, rate=200, seconds=0.5, max_inflight=1000)

    assert overall.statuses == {200: 100}
    assert server.max_inflight == 1
    assert stats.late > 50
    assert stats.lag_p99_ms > 100
    assert overall.percentile_ms(99) > overall.service_ms(99)  # type: ignore[operator]


def test_open_loop_drops_past_the_inflight_ceiling(engine: str, server: Server) -> None:
    target = Target(server.url("slow"), method="GET", timeout_s=3.0, max_connections=2)

    overall, stats = _run(engine, target, rate=100, seconds=0.3, max_inflight=5)

    assert stats.scheduled == 30
    assert stats.sent + stats.dropped == 30
    assert stats.dropped >= 20
    assert overall.requests == stats.sent


def test_closed_loop_keeps_its_users_busy_and_no_more(engine: str, server: Server) -> None:
    target = Target(server.url("busy"), method="GET")

    overall, stats = _run(engine, target, rate=1, seconds=0.5, concurrency=4)

    assert server.max_inflight == 4
    # 4 users for 0.5 s at ~20 ms per request: about 100 requests, far more than rate x time.
    assert 40 <= overall.requests <= 110
    assert overall.statuses == {200: overall.requests}
    assert stats.sent == overall.requests
    assert stats.late == 0


def test_closed_loop_needs_a_connection_per_user(engine: str, server: Server) -> None:
    target = Target(server.url("ok"), method="GET", max_connections=2)

    with pytest.raises(UsageError, match="users=4 connections=2"):
        _run(engine, target, rate=1, seconds=0.2, concurrency=4)


def test_each_whole_second_is_ticked_with_the_in_flight_count(engine: str, server: Server) -> None:
    ticks: list[tuple[int, int]] = []
    plan = Plan(Target(server.url("ok"), method="GET"), Constant(100, 2.2), engine=engine)
    recorder = Recorder()

    run_paced(plan, recorder, time.monotonic() + 0.05, lambda s, n: ticks.append((s, n)))

    assert [second for second, _ in ticks] == [1, 2]
    assert all(0 <= inflight <= 100 for _, inflight in ticks)
    assert recorder.phases["overall"].requests == 220
