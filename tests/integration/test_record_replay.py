"""Record a real API through a proxy stub and replay it offline: the same answers, in the same
order, with the upstream's latency reproduced; and `serving-chaos record` as a process."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import statistics
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from harness.servers.stub import (
    ReplaySpec,
    StubConfig,
    make_app,
    read_recording,
    stub_spec_from_json,
    write_recording,
)
from harness.servers.stub.recording import exchanges_from_json
from tests.cli import StartCli
from tests.serving import Client, base_url
from tests.threaded_server import serve_in_thread
from tests.waiting import eventually, run_async

pytestmark = pytest.mark.integration

# The upstream takes 30 ms plus up to 10 ms of jitter: a latency a replay has to reproduce.
_BASE_S, _JITTER_S = 0.030, 0.010
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _upstream(seed: int = 1) -> web.Application:
    """An API answering after a jittered delay, numbering its answers so order shows."""
    dice = random.Random(seed)
    served = [0]

    async def answer(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(_BASE_S + dice.uniform(0.0, _JITTER_S))
        served[0] += 1
        return web.json_response(
            {"n": served[0], "path": request.path_qs, "echo": body.decode()},
            headers={"X-Upstream": "real"},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as client:
        yield client


def _calls() -> list[tuple[str, str, bytes]]:
    """50 calls, with repeats (whose answers differ by ``n``, so order has to be kept)."""
    calls: list[tuple[str, str, bytes]] = []
    for i in range(50):
        if i % 5 == 4:
            calls.append(("GET", f"/v1/items/{i % 3}?full=1", b""))
        else:
            calls.append(("POST", "/v1/score", json.dumps({"id": i % 7}).encode()))
    return calls


async def _make(client: Client, calls: list[tuple[str, str, bytes]]) -> list[tuple[bytes, float]]:
    loop = asyncio.get_running_loop()
    seen = []
    for method, path, body in calls:
        started = loop.time()
        async with client.request(method, path, data=body or None) as resp:
            assert resp.status == 200, await resp.text()
            answer = await resp.read()
        seen.append((answer, (loop.time() - started) * 1000.0))
    return seen


def test_recorded_calls_replay_with_same_answers_and_latency(tmp_path: Path) -> None:
    calls = _calls()

    async def scenario() -> None:
        async with _serve(_upstream()) as upstream:
            spec = stub_spec_from_json(
                {"kind": "proxy", "upstream": base_url(upstream), "record": True}
            )
            async with _serve(make_app(StubConfig(), spec)) as proxy:
                live = await _make(proxy, calls)
                async with proxy.get("/_chaos/recording") as resp:
                    assert resp.status == 200
                    recording = await resp.json()
        exchanges = exchanges_from_json(recording["exchanges"])
        assert len(exchanges) == len(calls)
        path = tmp_path / "recording.json"
        write_recording(path, recording["upstream"], exchanges)
        replay = ReplaySpec(read_recording(path))
        async with _serve(make_app(StubConfig(), replay)) as stub:
            replayed = await _make(stub, calls)
        assert [answer for answer, _ in replayed] == [answer for answer, _ in live]
        recorded_ms = statistics.median(exchange.latency_ms for exchange in exchanges)
        replayed_ms = statistics.median(ms for _, ms in replayed)
        assert _BASE_S * 1000 <= recorded_ms <= (_BASE_S + _JITTER_S) * 1000 + 10
        # Stated slack: the replay's median within 20 % of what the upstream took.
        assert abs(replayed_ms - recorded_ms) <= 0.2 * recorded_ms, (recorded_ms, replayed_ms)

    run_async(scenario, timeout_s=30)


def _call(url: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    with _DIRECT.open(request, timeout=5) as response:
        return json.loads(response.read())


def test_record_command_records_until_sigterm(start_cli: StartCli, tmp_path: Path) -> None:
    out = tmp_path / "rec" / "api.json"
    with serve_in_thread(_upstream()) as upstream:
        run = start_cli("record", "--upstream", upstream, "--out", str(out))
        line = eventually(run.stdout, 15, what="the recorder's URL line")
        assert line.startswith(f"recording {upstream} at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].strip()
        answers = [_call(f"{url}/v1/score?i={i}", b'{"id": 1}') for i in range(4)]
        answers.append(_call(f"{url}/v1/items/9"))
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(15) == 0, run.stderr()
    assert [a["path"] for a in answers] == [*(f"/v1/score?i={i}" for i in range(4)), "/v1/items/9"]
    exchanges = read_recording(out)
    assert [x.request.path for x in exchanges] == [a["path"] for a in answers]
    assert all(x.latency_ms >= _BASE_S * 1000 for x in exchanges)
    summary = run.stdout().splitlines()[-1]
    assert summary.startswith(f"wrote 5 exchanges to {out}; upstream latency median ")
    assert " ms, p90 " in summary
    assert run.stderr() == ""


def test_record_command_stops_after_its_duration(start_cli: StartCli, tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    upstream = "http://127.0.0.1:9"
    run = start_cli("record", "--upstream", upstream, "--out", str(out), "--duration-s", "0.3")
    assert run.proc.wait(30) == 0, run.stderr()
    assert run.stdout().splitlines()[-1] == f"wrote 0 exchanges to {out}; no calls were made"
    assert read_recording(out) == ()
    assert json.loads(out.read_text())["upstream"] == upstream


def test_record_command_refuses_a_bad_upstream(start_cli: StartCli, tmp_path: Path) -> None:
    run = start_cli("record", "--upstream", "localhost:9000", "--out", str(tmp_path / "a.json"))
    assert run.proc.wait(30) == 2
    assert "expected --upstream as an http:// or https:// URL" in run.stderr()
