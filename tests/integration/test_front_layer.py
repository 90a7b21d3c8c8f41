"""The HTTP fault layer in front of the endpoint, over real loopback sockets: a real upstream
(aiohttp, in-process), the layer in front of it, and real clients (aiohttp, urllib,
http.client, raw sockets). Calls pass through byte for byte and keep-alive, each fault kind is
seen by the client as a client sees it, and switching a fault off reverts it fully."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httptools
import pytest
from aiohttp import web

from harness.servers.front import Front, serve_front
from harness.system.ports import LOOPBACK, free_port
from tests.serving import sample
from tests.waiting import eventually, eventually_async, run_async

pytestmark = pytest.mark.integration

CHUNKS = (b"alpha-" * 100, b"beta-" * 700, b"gamma-" * 30)
# Loopback services are asked directly, never through a proxy set for outside traffic.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# --- the upstream ------------------------------------------------------------------------------


def _upstream_app() -> web.Application:
    async def predict(request: web.Request) -> web.Response:
        body = await request.read()
        digest = hashlib.sha256(body).hexdigest()
        return web.json_response({"predictions": [0.25, 0.75], "bytes": len(body), "sha": digest})

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in CHUNKS:
            await response.write(chunk)
        await response.write_eof()
        return response

    async def sized(request: web.Request) -> web.Response:
        size = int(request.match_info["size"])
        return web.Response(body=_pattern(size), content_type="application/octet-stream")

    async def no_content(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["status"]))

    async def cut(request: web.Request) -> web.StreamResponse:
        # Promises 1000 bytes, sends 10, and goes away.
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"0123456789")
        assert request.transport is not None
        request.transport.close()
        return response

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"echo: {message.data}")
        return ws

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"from": "upstream", "path": request.path})

    app = web.Application()
    app.router.add_route("*", "/predict", predict)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/bytes/{size}", sized)
    app.router.add_get("/status/{status}", no_content)
    app.router.add_get("/cut", cut)
    app.router.add_get("/ws", socket)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@dataclass
class Stack:
    """The upstream, and the fault layer in front of it."""

    upstream_url: str
    front: Front
    session: aiohttp.ClientSession = field(repr=False)

    @property
    def url(self) -> str:
        return self.front.url

    async def put(self, name: str, *faults: dict[str, Any]) -> None:
        url = f"{self.front.control_url}/_chaos/faults/{name}"
        async with self.session.put(url, json={"faults": list(faults)}) as resp:
            assert resp.status == 200, await resp.text()

    async def delete(self, name: str | None = None) -> None:
        url = f"{self.front.control_url}/_chaos/faults" + (f"/{name}" if name else "")
        async with self.session.delete(url) as resp:
            assert resp.status == 200, await resp.text()

    async def metrics(self) -> str:
        async with self.session.get(f"{self.front.control_url}/metrics") as resp:
            assert resp.status == 200
            return await resp.text()


@asynccontextmanager
async def _stack(
    upstream_port: int | None = None, keepalive_s: float = 75.0
) -> AsyncIterator[Stack]:
    runner = web.AppRunner(_upstream_app(), access_log=None, keepalive_timeout=keepalive_s)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = upstream_port or runner.addresses[0][1]
    try:
        async with (
            serve_front(upstream=(LOOPBACK, port), host=LOOPBACK, port=0, control_port=0) as front,
            aiohttp.ClientSession() as session,
        ):
            yield Stack(f"http://{LOOPBACK}:{runner.addresses[0][1]}", front, session)
    finally:
        await runner.cleanup()


def _scenario(
    test: Callable[[Stack], Awaitable[None]],
    upstream_port: int | None = None,
    keepalive_s: float = 75.0,
) -> None:
    async def run() -> None:
        async with _stack(upstream_port, keepalive_s) as stack:
            await test(stack)

    run_async(run, timeout_s=20.0)


def _fresh() -> aiohttp.ClientSession:
    """A session whose every request opens its own connection."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    async with session.get(url) as resp:
        body = await resp.read()
    return resp.status, body, time.monotonic() - started


async def _post(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    """A scoring call. Not idempotent, so aiohttp never sends it again after a broken
    connection, which would hide a broken answer behind a second try."""
    async with session.post(url, json={"inputs": [[1.0, 2.0]]}) as resp:
        return resp.status, await resp.read()


# --- raw sockets: pipelining and exact byte counts -----------------------------------------------


class _Answers:
    """Answers parsed off a raw connection, in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, bytes]] = []
        self._body: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), b"".join(self._body)))
        self._body = []


async def _raw(port: int, *sends: bytes, answers: int) -> tuple[list[tuple[int, bytes]], int]:
    """Write ``sends`` one by one on one connection; the ``answers`` parsed, and the number of
    bytes they took."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    parsed, received = _Answers(), 0
    try:
        for data in sends:
            writer.write(data)
            await writer.drain()
            await asyncio.sleep(0.02)
        while len(parsed.done) < answers:
            data = await asyncio.wait_for(reader.read(65536), 5.0)
            assert data, f"connection closed after {parsed.done}"
            received += len(data)
            parsed.parser.feed_data(data)
    finally:
        writer.close()
    return parsed.done, received


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# --- passing through ---------------------------------------------------------------------------


def test_pass_through_is_byte_identical_for_length_and_chunked_bodies() -> None:
    async def test(stack: Stack) -> None:
        upload = _pattern(300_000)
        for path in ("/chunked", "/bytes/65000", "/bytes/2000000", "/predict"):
            async with stack.session.get(stack.upstream_url + path) as resp:
                direct = await resp.read()
            async with stack.session.get(stack.url + path) as resp:
                assert resp.status == 200
                through = await resp.read()
                if path == "/chunked":
                    assert resp.headers["Transfer-Encoding"] == "chunked"
            assert through == direct, path
        async with stack.session.post(stack.url + "/predict", data=upload) as resp:
            echoed = await resp.json()
        assert (echoed["bytes"], echoed["sha"]) == (len(upload), hashlib.sha256(upload).hexdigest())

        async def chunks() -> AsyncIterator[bytes]:
            for piece in (upload[:1000], upload[1000:150_000], upload[150_000:]):
                yield piece

        # A chunked request body is forwarded as it came.
        async with stack.session.post(stack.url + "/predict", data=chunks()) as resp:
            echoed = await resp.json()
        assert (echoed["bytes"], echoed["sha"]) == (len(upload), hashlib.sha256(upload).hexdigest())

    _scenario(test)


def test_keep_alive_reuses_one_upstream_connection() -> None:
    async def test(stack: Stack) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as one:
            for index in range(25):
                status, body, _ = await _get(one, f"{stack.url}/item/{index}")
                assert (status, json.loads(body)["path"]) == (200, f"/item/{index}")
        text = await stack.metrics()
        assert sample(text, "front_connections_total") == 1
        assert sample(text, "front_upstream_connections_total") == 1
        assert sample(text, "front_requests_total", status="200") == 25

    _scenario(test)


def test_head_and_bodiless_answers_keep_the_connection_in_step() -> None:
    def calls(port: int) -> list[tuple[str, int, bytes, str | None]]:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
        seen = []
        try:
            for method, path in (
                ("HEAD", "/bytes/5000"),
                ("GET", "/status/204"),
                ("GET", "/status/304"),
                ("HEAD", "/chunked"),
                ("GET", "/bytes/10"),
            ):
                connection.request(method, path)
                resp = connection.getresponse()
                seen.append((method, resp.status, resp.read(), resp.getheader("Content-Length")))
        finally:
            connection.close()
        return seen

    async def test(stack: Stack) -> None:
        seen = await asyncio.to_thread(calls, _port(stack.url))
        assert seen == [
            ("HEAD", 200, b"", "5000"),
            ("GET", 204, b"", None),
            ("GET", 304, b"", None),
            ("HEAD", 200, b"", None),
            ("GET", 200, _pattern(10), "10"),
        ]
        text = await stack.metrics()
        assert sample(text, "front_connections_total") == 1
        assert sample(text, "front_upstream_connections_total") == 1

    _scenario(test)


def test_pipelined_calls_are_answered_in_order_and_counted_exactly() -> None:
    async def test(stack: Stack) -> None:
        requests = [f"GET /call/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3)] + [
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        ]
        together = b"".join(requests)
        # All in one write, then again cut in the middle of the second call's head.
        answers, received = await _raw(_port(stack.url), together, answers=4)
        cut = len(requests[0]) + 7
        again, received_again = await _raw(
            _port(stack.url), together[:cut], together[cut:], answers=4
        )
        for got in (answers, again):
            assert [status for status, _ in got] == [200] * 4
            paths = [json.loads(body)["path"] for _, body in got[:3]]
            assert paths == ["/call/0", "/call/1", "/call/2"]
            assert json.loads(got[3][1])["bytes"] == 5
        text = await stack.metrics()
        assert sample(text, "front_bytes_total", direction="request") == 2 * len(together)
        assert sample(text, "front_bytes_total", direction="response") == received + received_again
        assert sample(text, "front_requests_total", status="200") == 8

    _scenario(test)


def test_interim_answers_and_protocol_upgrades_pass() -> None:
    async def test(stack: Stack) -> None:
        upload = _pattern(50_000)
        # Expect: 100-continue: the upstream's interim answer reaches the client, which only
        # then sends the body.
        async with stack.session.post(stack.url + "/predict", data=upload, expect100=True) as resp:
            echoed = await resp.json()
        assert echoed["sha"] == hashlib.sha256(upload).hexdigest()
        # 101 Switching Protocols: from then on the connection is a tunnel.
        async with stack.session.ws_connect(stack.url + "/ws") as ws:
            for word in ("one", "two"):
                await ws.send_str(word)
                assert (await ws.receive_str()) == f"echo: {word}"
        # An upgrade the upstream does not take: what followed is the next call.
        upgrade = (
            b"GET /first HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
        )
        answers, _ = await _raw(
            _port(stack.url), upgrade + b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n", answers=2
        )
        assert [json.loads(body)["path"] for _, body in answers] == ["/first", "/second"]
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="101") == 1

    _scenario(test)


def test_calls_keep_passing_while_the_upstream_drops_idle_connections() -> None:
    async def test(stack: Stack) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as one:

            async def reconnected() -> bool:
                status, _, _ = await _get(one, stack.url + "/predict")
                assert status == 200
                return sample(await stack.metrics(), "front_upstream_connections_total") >= 3

            # The upstream closes a connection idle for 50 ms: the client's connection to the
            # fault layer stays, and each call after a pause gets a fresh upstream connection.
            await eventually_async(
                reconnected, 5.0, what="upstream connections reopened", poll_s=0.12
            )
        text = await stack.metrics()
        assert sample(text, "front_connections_total") == 1
        assert sample(text, "front_requests_total", status="502") == 0

    _scenario(test, keepalive_s=0.05)


class _OneCallPerConnection(asyncio.Protocol):
    """An upstream that answers the first call on a connection and closes the connection
    when a second one comes, without answering: a server whose idle timeout fired as the
    call went out."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.calls = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.calls += 1
        if self.calls > 1:
            self.transport.close()
            return
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_a_call_on_a_connection_the_upstream_just_closed_is_sent_again_once() -> None:
    async def test() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_OneCallPerConnection, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with (
                serve_front(upstream=(LOOPBACK, port)) as front,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as one,
            ):
                for _ in range(3):
                    assert await _post(one, front.url + "/predict") == (200, b"ok")
                counters = front.counters
                assert counters.connections == 1
                assert counters.upstream_connections == 3
        finally:
            server.close()
            await server.wait_closed()

    run_async(test, timeout_s=20.0)


def test_a_large_call_pipelined_with_the_next_is_answered_then_the_connection_closes() -> None:
    async def test(stack: Stack) -> None:
        body = _pattern(200_000)
        call = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        reader, writer = await asyncio.open_connection(LOOPBACK, _port(stack.url))
        try:
            writer.write(call + body[:-10])
            await writer.drain()
            # Its last bytes and the next call in one write: too big a call to find the split
            # again, so the fault layer answers it and closes, as a pipelining client expects.
            writer.write(body[-10:] + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            received = await asyncio.wait_for(reader.read(), 5.0)
        finally:
            writer.close()
        parsed = _Answers()
        parsed.parser.feed_data(received)
        assert len(parsed.done) == 1
        status, answer = parsed.done[0]
        assert (status, json.loads(answer)["bytes"]) == (200, len(body))

    _scenario(test)


def test_control_paths_never_shadow_the_clients_paths() -> None:
    async def test(stack: Stack) -> None:
        async with stack.session.get(f"{stack.front.control_url}/health") as resp:
            assert await resp.json() == {"status": "ok", "service": "front"}
        for path in ("/health", "/metrics", "/_chaos/faults"):
            status, body, _ = await _get(stack.session, stack.url + path)
            assert (status, json.loads(body)) == (200, {"from": "upstream", "path": path})

    _scenario(test)


# --- faults as a client sees them ----------------------------------------------------------------


def test_abort_answers_status_retry_after_and_body_then_reverts() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("outage", {"kind": "abort", "status": 503, "retry_after_s": 2})
        async with stack.session.post(stack.url + "/predict", data=b"x" * 5000) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "2"
            assert await resp.json() == {"error": "injected fault", "status": 503}
        # The connection stays usable after a made-up answer.
        status, _, _ = await _get(stack.session, stack.url + "/predict")
        assert status == 503
        await stack.delete("outage")
        status, body, _ = await _get(stack.session, stack.url + "/predict")
        assert (status, json.loads(body)["predictions"]) == (200, [0.25, 0.75])
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="503") == 2
        assert sample(text, "front_faults_injected_total", kind="abort") == 2
        assert sample(text, "front_upstream_connections_total") == 1

    _scenario(test)


def test_delay_holds_the_call_at_least_as_long_as_configured_then_reverts() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("slow", {"kind": "delay", "latency": {"type": "fixed", "ms": 300}})
        status, _, took = await _get(stack.session, stack.url + "/predict")
        assert status == 200
        assert took >= 0.3
        await stack.delete()
        status, _, untouched = await _get(stack.session, stack.url + "/predict")
        # Reverted: far quicker than the delay that was on (slack for a busy machine).
        assert (status, untouched < 0.15) == (200, True), untouched
        text = await stack.metrics()
        assert sample(text, "front_faults_injected_total", kind="delay") == 1

    _scenario(test)


def test_rate_limit_lets_the_burst_through_then_answers_429() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("limit", {"kind": "rate_limit", "rps": 5, "burst": 2})
        statuses: list[int] = []
        retry_after: list[str] = []
        started = time.monotonic()
        for _ in range(10):
            async with stack.session.get(stack.url + "/predict") as resp:
                statuses.append(resp.status)
                retry_after.append(resp.headers.get("Retry-After", ""))
                await resp.read()
        elapsed = time.monotonic() - started
        assert statuses[:3] == [200, 200, 429], statuses
        # At 5 per second a slow machine may earn a token back during the burst, no more.
        assert statuses.count(200) <= 2 + int(elapsed * 5), (statuses, elapsed)
        limited = [
            after for status, after in zip(statuses, retry_after, strict=True) if status == 429
        ]
        assert limited
        assert all(after.isdigit() and int(after) >= 1 for after in limited), limited

    _scenario(test)


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("empty", aiohttp.ServerDisconnectedError),
        ("truncated", aiohttp.ClientPayloadError),
        ("random_bytes", aiohttp.ClientResponseError),
        ("reset", aiohttp.ClientOSError),
    ],
)
def test_connection_malformed_answers_break_the_client(
    what: str, expected: type[Exception]
) -> None:
    async def test(stack: Stack) -> None:
        await stack.put("broken", {"kind": "malformed", "what": what})
        async with _fresh() as fresh:
            with pytest.raises(expected) as caught:
                await _post(fresh, stack.url + "/predict")
            if what == "reset":
                assert isinstance(caught.value, OSError)
                assert caught.value.errno == errno.ECONNRESET
            await stack.delete("broken")
            status, body = await _post(fresh, stack.url + "/predict")
        assert (status, json.loads(body)["predictions"]) == (200, [0.25, 0.75])
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="malformed") == 1
        assert sample(text, "front_faults_injected_total", kind="malformed") == 1

    _scenario(test)


def test_connection_malformed_answers_as_the_standard_library_sees_them() -> None:
    def call(port: int) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
        try:
            connection.request("GET", "/predict")
            connection.getresponse().read()
        finally:
            connection.close()

    async def test(stack: Stack) -> None:
        port = _port(stack.url)
        await stack.put("broken", {"kind": "malformed", "what": "empty"})
        with pytest.raises(http.client.RemoteDisconnected):
            await asyncio.to_thread(call, port)
        await stack.put("broken", {"kind": "malformed", "what": "reset"})
        with pytest.raises(ConnectionResetError):
            await asyncio.to_thread(call, port)
        await stack.put("broken", {"kind": "malformed", "what": "truncated"})
        with pytest.raises(http.client.IncompleteRead):
            await asyncio.to_thread(call, port)

    _scenario(test)


def test_invalid_json_and_wrong_content_type_are_well_formed_http() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("bad", {"kind": "malformed", "what": "invalid_json"})
        async with stack.session.get(stack.url + "/predict") as resp:
            assert (resp.status, resp.content_type) == (200, "application/json")
            body = await resp.read()
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
        await stack.put("bad", {"kind": "malformed", "what": "wrong_content_type"})
        async with stack.session.get(stack.url + "/predict") as resp:
            assert (resp.status, resp.content_type) == (200, "text/html")
            assert b"<html>" in await resp.read()
        await stack.delete()
        status, body, _ = await _get(stack.session, stack.url + "/predict")
        assert (status, json.loads(body)["predictions"]) == (200, [0.25, 0.75])
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="200") == 3
        assert sample(text, "front_requests_total", status="malformed") == 0

    _scenario(test)


def test_slow_body_dribbles_the_real_answer_intact() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("dribble", {"kind": "slow_body", "chunks": 4, "duration_ms": 400})
        started = time.monotonic()
        async with stack.session.get(stack.url + "/chunked") as resp:
            head_after = time.monotonic() - started
            body = await resp.read()
        took = time.monotonic() - started
        assert body == b"".join(CHUNKS)
        assert took >= 0.4
        # The head goes out at once; it is the body that takes the time.
        assert head_after < took - 0.2, (head_after, took)
        await stack.delete()
        status, body, untouched = await _get(stack.session, stack.url + "/chunked")
        assert (status, body, untouched < 0.2) == (200, b"".join(CHUNKS), True), untouched

    _scenario(test)


def test_throughput_limit_paces_the_answer() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("thin", {"kind": "throughput", "bytes_per_s": 40_000})
        status, body, took = await _get(stack.session, stack.url + "/bytes/20000")
        assert (status, body) == (200, _pattern(20_000))
        # 20 KB at 40 KB/s is half a second; the head's bytes count too.
        assert took >= 0.45, took
        await stack.delete()
        status, body, untouched = await _get(stack.session, stack.url + "/bytes/20000")
        assert (status, body, untouched < 0.2) == (200, _pattern(20_000), True), untouched

    _scenario(test)


def test_shaping_passes_an_interim_answer_at_once() -> None:
    async def test(stack: Stack) -> None:
        await stack.put("dribble", {"kind": "slow_body", "chunks": 2, "duration_ms": 200})
        upload = _pattern(20_000)
        started = time.monotonic()
        # The client sends the body only after the upstream's 100 Continue reaches it.
        async with stack.session.post(stack.url + "/predict", data=upload, expect100=True) as resp:
            echoed = await resp.json()
        assert echoed["sha"] == hashlib.sha256(upload).hexdigest()
        assert time.monotonic() - started >= 0.2

    _scenario(test)


def test_shaping_applies_to_a_made_up_answer_too() -> None:
    async def test(stack: Stack) -> None:
        await stack.put(
            "both",
            {"kind": "abort", "status": 500},
            {"kind": "slow_body", "chunks": 2, "duration_ms": 300},
        )
        status, body, took = await _get(stack.session, stack.url + "/predict")
        assert (status, json.loads(body)["status"]) == (500, 500)
        assert took >= 0.3

    _scenario(test)


def test_counters_follow_what_the_clients_got() -> None:
    async def test(stack: Stack) -> None:
        for _ in range(3):
            await _get(stack.session, stack.url + "/predict")
        await stack.put("x", {"kind": "abort", "status": 429, "percentage": 100})
        await _get(stack.session, stack.url + "/predict")
        await stack.put(
            "x", {"kind": "delay", "latency": 1}, {"kind": "throughput", "bytes_per_s": 1e6}
        )
        await _get(stack.session, stack.url + "/predict")
        await stack.delete()
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="200") == 4
        assert sample(text, "front_requests_total", status="429") == 1
        for kind, count in (("abort", 1), ("delay", 1), ("throughput", 1), ("slow_body", 0)):
            assert sample(text, "front_faults_injected_total", kind=kind) == count, kind
        assert sample(text, "front_bytes_total", direction="request") > 0
        assert sample(text, "front_bytes_total", direction="response") > 0

    _scenario(test)


# --- the upstream failing ------------------------------------------------------------------------


def test_unreachable_upstream_is_a_502_that_says_so() -> None:
    dead = free_port()

    async def test(stack: Stack) -> None:
        async with _fresh() as fresh, fresh.get(stack.url + "/predict") as resp:
            assert resp.status == 502
            assert resp.headers["Connection"] == "close"
            body = await resp.json()
        assert "could not be reached" in body["error"]
        assert f"{LOOPBACK}:{dead}" in body["error"]
        text = await stack.metrics()
        assert sample(text, "front_requests_total", status="502") == 1
        assert sample(text, "front_upstream_connections_total") == 0

    _scenario(test, upstream_port=dead)


def test_upstream_closing_mid_answer_closes_the_client_connection() -> None:
    async def test(stack: Stack) -> None:
        async with _fresh() as fresh:
            with pytest.raises(aiohttp.ClientPayloadError):
                await _get(fresh, stack.url + "/cut")
            # The next call gets a fresh upstream connection and passes.
            status, _, _ = await _get(fresh, stack.url + "/predict")
        assert status == 200

    _scenario(test)


# --- as a command ------------------------------------------------------------------------------


def test_command_serves_until_sigterm_and_exits_cleanly(tmp_path: Path) -> None:
    port, control = free_port(), free_port()
    upstream = free_port()
    argv = [sys.executable, "-m", "harness.cli", "front", "--port", str(port)]
    argv += ["--control-port", str(control), "--upstream", f"{LOOPBACK}:{upstream}"]
    log = tmp_path / "front.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            try:
                with _DIRECT.open(f"http://{LOOPBACK}:{control}/health", timeout=1) as resp:
                    answer = json.loads(resp.read())
                    return bool(answer == {"status": "ok", "service": "front"})
            except OSError:
                return proc.poll() is not None

        eventually(healthy, 15.0, what="the front's /health")
        assert proc.poll() is None, log.read_text()
        # Something listening on the data port answers (a 502: no upstream is running).
        with pytest.raises(urllib.error.HTTPError) as caught:
            _DIRECT.open(f"http://{LOOPBACK}:{port}/predict", timeout=5)
        assert caught.value.code == 502
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--upstream", "nowhere"], "expected --upstream as HOST:PORT"),
        (["--upstream", "127.0.0.1:99999"], "expected --upstream as HOST:PORT"),
        (["--port", "70000"], "expected --port in 0..65535"),
    ],
)
def test_command_refuses_bad_flags_without_a_traceback(flags: list[str], message: str) -> None:
    given = {"--port": "0", "--control-port": "0", "--upstream": f"{LOOPBACK}:8080"}
    given.update(dict(zip(flags[::2], flags[1::2], strict=True)))
    argv = [sys.executable, "-m", "harness.cli", "front"]
    for flag, value in given.items():
        argv += [flag, value]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
