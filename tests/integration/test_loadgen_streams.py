"""Every engine that reads streams (aiohttp, http1, native) against a server with known timings:
time to first token and inter-token gaps as the server paced them, cut streams counted as such,
a final event without ``[DONE]`` taken as a proper end, and error answers left as they are.
Everything binds 127.0.0.1; the native cases skip where the extension is not built."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from harness.errors import UsageError
from harness.loadgen import Constant, FixedBody, Plan, Target, run_plan
from harness.loadgen.engine import STREAM_ENGINES
from harness.loadgen.pacing import run_recorded
from harness.loadgen.recorder import Recorder
from harness.loadgen.streams import StreamSlo
from tests.engines import engines
from tests.threaded_server import serve_in_thread

pytestmark = pytest.mark.integration

FIRST_S, GAP_S, TOKENS = 0.08, 0.02, 10
# Where a cut stream stops: after this many token events.
CUT_AFTER = 4


def _event(text: str, finish: str | None = None, usage: int | None = None) -> bytes:
    chunk: dict[str, object] = {
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]
    }
    if usage is not None:
        chunk["usage"] = {"completion_tokens": usage}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


@pytest.fixture(params=engines("aiohttp", "http1", "native"))
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``/ok`` streams every token, a final event and [DONE]; ``/final`` the same without
    [DONE] (the final event ends it, with usage); ``/cut`` stops after a few tokens with a
    proper end of the HTTP body; ``/busy`` answers 503 with a JSON body."""

    async def stream(request: web.Request) -> web.StreamResponse:
        await request.read()
        kind = request.match_info["kind"]
        if kind == "busy":
            return web.json_response({"error": "busy"}, status=503)
        answer = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await answer.prepare(request)
        start = time.monotonic()
        for n in range(TOKENS):
            # Paced against absolute times, so the gaps do not drift.
            await asyncio.sleep(max(start + FIRST_S + n * GAP_S - time.monotonic(), 0))
            await answer.write(_event(f"t{n} "))
            if kind == "cut" and n == CUT_AFTER - 1:
                return answer
        if kind == "final":
            await answer.write(_event("", finish="stop", usage=TOKENS))
        else:
            await answer.write(_event("", finish="stop") + b"data: [DONE]\n\n")
        return answer

    app = web.Application()
    app.router.add_post("/{kind}", stream)
    with serve_in_thread(app) as base:
        yield base


def _run(engine: str, url: str, slo: StreamSlo | None = None) -> Recorder:
    """Ten streamed requests in one second, recorded as a run records them."""
    recorder = Recorder()
    target = Target(url, body=FixedBody(b'{"stream": true}'), stream=True, slo=slo or StreamSlo())
    plan = Plan(target, Constant(10, 1.0), engine=engine)
    t0 = time.monotonic() + 0.05
    if engine == "aiohttp":
        asyncio.run(run_plan(plan, recorder, t0))
    else:
        run_recorded(plan, recorder, t0)
    return recorder


def test_first_token_and_gaps_are_what_the_server_paced(engine: str, server: str) -> None:
    recorder = _run(engine, f"{server}/ok", StreamSlo(ttft_ms=200, tpot_ms=30))
    overall = recorder.phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.statuses == {200: 10}
    assert (stream.streams, stream.complete, stream.tokens, stream.good) == (10, 10, 100, 10)
    assert stream.malformed == 0
    # Low load: within 10 % of the server's own pacing (plus a millisecond of loopback).
    assert stream.percentile_ms("ttft", 50) == pytest.approx(FIRST_S * 1000, rel=0.1, abs=1)
    # The head goes at once, the body's first byte with the first token.
    assert stream.percentile_ms("ttfb", 50) == pytest.approx(FIRST_S * 1000, rel=0.1, abs=1)
    assert stream.percentile_ms("itl", 50) == pytest.approx(GAP_S * 1000, rel=0.1)
    assert stream.percentile_ms("tpot", 50) == pytest.approx(GAP_S * 1000, rel=0.1)
    assert stream.itl.total_count == 10 * (TOKENS - 1)
    # The per-second view carries the same streams.
    seconds = [b.stream for b in recorder.seconds() if b.stream is not None]
    assert sum(s.streams for s in seconds) == 10


def test_a_stream_cut_short_is_an_error_and_not_good(engine: str, server: str) -> None:
    overall = _run(engine, f"{server}/cut").phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.failures == {"stream_cut": 10}
    assert (stream.streams, stream.complete, stream.good) == (10, 0, 0)
    assert stream.tokens == 10 * CUT_AFTER


def test_a_final_event_without_done_ends_a_stream_properly(engine: str, server: str) -> None:
    overall = _run(engine, f"{server}/final").phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.statuses == {200: 10}
    assert (stream.streams, stream.complete, stream.good) == (10, 10, 10)
    # usage.completion_tokens of the final event is the count.
    assert stream.tokens == 10 * TOKENS


def test_an_error_answer_is_its_status_not_a_cut_stream(engine: str, server: str) -> None:
    overall = _run(engine, f"{server}/busy").phases["overall"]

    stream = overall.stream
    assert stream is not None
    assert overall.statuses == {503: 10}
    assert not overall.failures
    assert (stream.streams, stream.complete, stream.tokens, stream.good) == (10, 0, 0, 0)


def test_engines_that_read_answers_whole_refuse_streams_naming_those_that_do() -> None:
    target = Target("http://127.0.0.1:9/", stream=True)

    with pytest.raises(UsageError, match="expected an engine that reads streamed answers") as info:
        Plan(target, Constant(1, 1.0), engine="curl")

    assert all(name in str(info.value) for name in STREAM_ENGINES)
