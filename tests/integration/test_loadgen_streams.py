"""The aiohttp engine reading streamed answers from a server with known timings: time to first
token and inter-token gaps as the server paced them, cut streams counted as such, and whole
answers on the same run untouched. Everything binds 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from harness.errors import UsageError
from harness.loadgen import Constant, FixedBody, Plan, Target, run_plan
from harness.loadgen.recorder import Recorder
from harness.loadgen.streams import StreamSlo
from tests.threaded_server import serve_in_thread

pytestmark = pytest.mark.integration

FIRST_S, GAP_S, TOKENS = 0.08, 0.02, 10


def _event(text: str, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


@pytest.fixture
def server() -> Iterator[str]:
    async def stream(request: web.Request) -> web.StreamResponse:
        await request.read()
        cut = request.match_info["kind"] == "cut"
        answer = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await answer.prepare(request)
        start = time.monotonic()
        for n in range(TOKENS):
            # Paced against absolute times, so the gaps do not drift.
            await asyncio.sleep(max(start + FIRST_S + n * GAP_S - time.monotonic(), 0))
            await answer.write(_event(f"t{n} "))
            if cut and n == 3:
                return answer
        await answer.write(_event("", finish="stop") + b"data: [DONE]\n\n")
        return answer

    app = web.Application()
    app.router.add_post("/{kind}", stream)
    with serve_in_thread(app) as base:
        yield base


def _run(url: str, slo: StreamSlo | None = None) -> Recorder:
    recorder = Recorder()
    target = Target(url, body=FixedBody(b'{"stream": true}'), stream=True, slo=slo or StreamSlo())
    plan = Plan(target, Constant(10, 1.0))
    asyncio.run(run_plan(plan, recorder, time.monotonic() + 0.05))
    return recorder


def test_first_token_and_gaps_are_what_the_server_paced(server: str) -> None:
    overall = _run(f"{server}/ok", StreamSlo(ttft_ms=200, tpot_ms=30)).phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.statuses == {200: 10}
    assert (stream.streams, stream.complete, stream.tokens, stream.good) == (10, 10, 100, 10)
    # Low load: within 10 % of the server's own pacing (plus a millisecond of loopback).
    assert stream.percentile_ms("ttft", 50) == pytest.approx(FIRST_S * 1000, rel=0.1, abs=1)
    assert stream.percentile_ms("itl", 50) == pytest.approx(GAP_S * 1000, rel=0.1)
    assert stream.percentile_ms("tpot", 50) == pytest.approx(GAP_S * 1000, rel=0.1)


def test_a_stream_cut_short_is_an_error_and_not_good(server: str) -> None:
    overall = _run(f"{server}/cut").phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.failures == {"stream_cut": 10}
    assert (stream.streams, stream.complete, stream.good) == (10, 0, 0)
    assert stream.tokens == 40


def test_streams_are_read_by_the_aiohttp_engine_only() -> None:
    target = Target("http://127.0.0.1:9/", stream=True)

    with pytest.raises(UsageError, match="expected the aiohttp engine for streamed answers"):
        Plan(target, Constant(1, 1.0), engine="http1")
