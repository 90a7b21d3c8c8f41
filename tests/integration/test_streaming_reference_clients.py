"""The reference streaming clients (``naive_stream``, ``restarting_stream``) against a real
aiohttp server on loopback that streams OpenAI-style chat and completion chunks, and can be
told to cut the next streams part way (the connection aborted, or the body ended early), spoil
an event or answer an error status. The server counts the token events it wrote, so a test can
see what a restart cost it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from harness.clients import REFERENCE_CLIENTS, streaming
from harness.clients.streaming import StreamCut, naive_stream, restarting_stream
from tests.threaded_server import serve_in_thread
from tests.waiting import run_async

pytestmark = pytest.mark.integration

TOKENS = 6


@dataclass(frozen=True, slots=True)
class Break:
    """What the server does to one stream: ``after`` token events, then abort the connection
    (``abort``), end the body there (not ``abort``), or spoil the next event (``spoil``);
    or answer ``status`` before any event."""

    after: int = 0
    abort: bool = True
    spoil: bool = False
    status: int | None = None
    finish: bool = False


class Server:
    """Streams ``TOKENS`` tokens per request, breaking the next ones as told; counts requests
    and token events written. Changed from the test's thread, so under a lock."""

    def __init__(self) -> None:
        self.base = ""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._next: deque[Break | None] = deque()
            self.requests = 0
            self.written = 0

    def break_next(self, *breaks: Break | None) -> None:
        with self._lock:
            self._next.extend(breaks)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        assert payload["stream"] is True
        chat = "messages" in payload
        with self._lock:
            self.requests += 1
            fault = self._next.popleft() if self._next else None
        if fault is not None and fault.status is not None:
            return web.json_response({"error": {"message": "no"}}, status=fault.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index in range(TOKENS):
            if fault is not None and index == fault.after:
                return await self._break(request, response, fault, chat)
            await response.write(_event(_chunk(f"tok{index} ", chat)))
            with self._lock:
                self.written += 1
        await response.write(_event(_chunk("", chat, finish="length")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _break(
        self, request: web.Request, response: web.StreamResponse, fault: Break, chat: bool
    ) -> web.StreamResponse:
        if fault.spoil:
            await response.write(b"data: {not json\n\n")
        elif fault.finish:
            # A stream that says it is over, but without [DONE]: whole all the same.
            await response.write(_event(_chunk("", chat, finish="stop")))
        if fault.abort:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        await response.write_eof()
        return response


def _chunk(text: str, chat: bool, finish: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if chat:
        choice["delta"] = {"content": text} if text else {}
    else:
        choice["text"] = text
    return {"id": "x", "choices": [choice]}


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


@pytest.fixture(scope="module")
def _served() -> Iterator[Server]:
    server = Server()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    app.router.add_post("/v1/completions", server.handle)
    with serve_in_thread(app) as base:
        server.base = base
        yield server


@pytest.fixture
def server(_served: Server) -> Server:
    """The module's server with its breaks and counts cleared before the test."""
    _served.reset()
    return _served


CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": TOKENS}
WHOLE = [f"tok{i} " for i in range(TOKENS)]


def _collect(client: Any, url: str, payload: dict[str, Any]) -> tuple[list[str], Exception | None]:
    """The tokens ``client`` yielded and the error it ended with, if any."""
    got: list[str] = []
    error: list[Exception] = []

    async def consume() -> None:
        stream: AsyncIterator[str] = client(url, payload)
        try:
            async for text in stream:
                got.append(text)
        except Exception as exc:  # the error is what the test looks at
            error.append(exc)
        finally:
            await streaming.aclose()

    run_async(consume, timeout_s=20)
    return got, error[0] if error else None


def test_both_are_registered_reference_clients() -> None:
    assert REFERENCE_CLIENTS["naive_stream"] == "harness.clients.streaming:naive_stream"
    assert REFERENCE_CLIENTS["restarting_stream"] == "harness.clients.streaming:restarting_stream"


@pytest.mark.parametrize("client", [naive_stream, restarting_stream])
def test_a_whole_stream_yields_every_token_once_in_order(server: Server, client: Any) -> None:
    got, error = _collect(client, f"{server.base}/v1/chat/completions", CHAT)
    assert error is None
    assert got == WHOLE
    assert server.requests == 1


def test_completion_chunks_are_read_by_their_text(server: Server) -> None:
    payload = {"prompt": "hi", "max_tokens": TOKENS, "stream": False}
    got, error = _collect(naive_stream, f"{server.base}/v1/completions", payload)
    assert error is None
    assert got == WHOLE


@pytest.mark.parametrize(
    ("cut", "raised"),
    [
        (Break(after=3), aiohttp.ClientPayloadError),
        (Break(after=3, abort=False), StreamCut),
        (Break(after=3, abort=False, spoil=True), StreamCut),
    ],
    ids=["aborted", "ended-early", "malformed"],
)
def test_naive_stream_passes_a_cut_on_after_the_tokens_it_got(
    server: Server, cut: Break, raised: type[Exception]
) -> None:
    server.break_next(cut)
    got, error = _collect(naive_stream, f"{server.base}/v1/chat/completions", CHAT)
    assert got == WHOLE[:3]
    assert isinstance(error, raised)
    assert server.requests == 1


def test_a_finish_reason_without_done_is_a_whole_answer(server: Server) -> None:
    server.break_next(Break(after=TOKENS - 1, abort=False, finish=True))
    got, error = _collect(naive_stream, f"{server.base}/v1/chat/completions", CHAT)
    assert error is None
    assert got == WHOLE[: TOKENS - 1]


def test_restarting_stream_restarts_from_the_start_and_yields_each_token_once(
    server: Server,
) -> None:
    server.break_next(Break(after=2), Break(after=4, abort=False))
    got, error = _collect(restarting_stream, f"{server.base}/v1/chat/completions", CHAT)

    assert error is None
    assert got == WHOLE
    assert server.requests == 3
    # The server wrote the first 2 tokens, then 4 again, then all 6: 6 tokens more than the
    # caller received, the restarts' duplicated work.
    assert server.written == 2 + 4 + TOKENS
    assert server.written - len(got) == 6


def test_restarting_stream_gives_up_after_its_attempts(server: Server) -> None:
    server.break_next(*[Break(after=1)] * streaming.MAX_ATTEMPTS)
    got, error = _collect(restarting_stream, f"{server.base}/v1/chat/completions", CHAT)
    assert got == WHOLE[:1]
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert server.requests == streaming.MAX_ATTEMPTS


def test_restarting_stream_does_not_restart_an_error_status(server: Server) -> None:
    server.break_next(Break(status=503))
    got, error = _collect(restarting_stream, f"{server.base}/v1/chat/completions", CHAT)
    assert got == []
    assert isinstance(error, aiohttp.ClientResponseError)
    assert error.status == 503
    assert server.requests == 1
