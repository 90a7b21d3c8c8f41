"""A real short load on each engine, split over worker processes, against a tiny local aiohttp
server that answers bodies of known, varying sizes: the phase's request_bytes and
response_bytes are those of the bodies that really crossed the wire, and every second of the
timeline has its scheduling lag. Everything binds 127.0.0.1; curl is skipped without pycurl."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from harness.loadgen import Constant, Plan, RecordsBody, Target, run_processes
from harness.loadgen.curl import curl_available
from harness.loadgen.histograms import Tally
from harness.loadgen.recorder import timeline_row
from harness.verdict.phases import phase_stats
from tests.threaded_server import serve_in_thread

pytestmark = pytest.mark.integration

RATE, SECONDS = 100, 1.5
REQUESTS = 150


@pytest.fixture(
    params=[
        "aiohttp",
        "http1",
        pytest.param("curl", marks=pytest.mark.skipif(not curl_available(), reason="needs pycurl")),
    ]
)
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@dataclass
class Sizes:
    """What the server really got and sent, body by body."""

    base: str = ""
    got: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Sizes]:
    found = Sizes()

    async def framed(request: web.Request) -> web.Response:
        # An answer three times as large as the request, so sizes vary from one to the next.
        got = await request.read()
        body = b"x" * (3 * len(got))
        found.got.append(len(got))
        found.sent.append(len(body))
        return web.Response(body=body, content_type="application/json")

    async def chunked(request: web.Request) -> web.StreamResponse:
        got = await request.read()
        parts = [b"a" * len(got), b"b" * 1000]
        answer = web.StreamResponse()
        answer.enable_chunked_encoding()
        await answer.prepare(request)
        for part in parts:
            await answer.write(part)
        await answer.write_eof()
        found.got.append(len(got))
        found.sent.append(sum(map(len, parts)))
        return answer

    app = web.Application()
    app.router.add_post("/framed", framed)
    app.router.add_post("/chunked", chunked)
    with serve_in_thread(app) as base:
        found.base = base
        yield found


def _expected(sizes: list[int]) -> dict[str, int] | None:
    """The summary of ``sizes`` as a tally makes it, from the server's own count."""
    tally = Tally()
    for size in sizes:
        tally.add(0.001, 0.001, 200, None, request_bytes=size)
    return tally.request_bytes()


def _run(engine: str, url: str, workers: int) -> Tally:
    # RecordsBody: request i carries its own entity keys, so body lengths differ.
    target = Target(url, body=RecordsBody(records=3, keyspace=997))
    plan = Plan(target, Constant(RATE, SECONDS), engine=engine)
    recorder, stats = run_processes(plan, workers)
    assert stats.sent == REQUESTS
    overall = phase_stats(recorder, SECONDS)["overall"]
    summary = overall.summary()
    assert summary["requests"] == REQUESTS
    assert summary["errors"] == 0
    rows = [timeline_row(bucket) for bucket in recorder.each_second()]
    # Every second that sent something says how late it sent, in ms.
    assert all(isinstance(row["lag_p99_ms"], float) for row in rows if row["completed"])
    return overall.tally


def test_sizes_recorded_are_those_of_the_bodies_on_the_wire(engine: str, server: Sizes) -> None:
    tally = _run(engine, f"{server.base}/framed", workers=2)

    assert len(server.sent) == REQUESTS
    assert len(set(server.sent)) > 1
    assert tally.request_bytes() == _expected(server.got)
    assert tally.response_bytes() == _expected(server.sent)
    response = tally.response_bytes()
    assert response is not None
    assert response["max"] == max(server.sent)


def test_a_chunked_answer_counts_its_body_not_its_framing(engine: str, server: Sizes) -> None:
    tally = _run(engine, f"{server.base}/chunked", workers=1)

    assert len(server.sent) == REQUESTS
    assert tally.response_bytes() == _expected(server.sent)
    assert tally.request_bytes() == _expected(server.got)
