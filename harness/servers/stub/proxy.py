"""The ``proxy`` kind: every call forwarded to the real API, its answer passed back, and with
``record`` each exchange kept (with how long the API took) to be saved as a recording.

An answer of server-sent events is passed on event by event as the API sends them (so stream
faults on the stub's hop break it part way), and recorded whole once it ends, with the time to
its head as its latency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from harness.servers.httpfaults.event_stream import EventStream, StreamBroken
from harness.servers.httpfaults.events import EventSplitter, is_event_stream
from harness.servers.stub.recording import (
    Exchange,
    RecordedRequest,
    RecordedResponse,
    joined_headers,
)
from harness.servers.stub.served import Match
from harness.servers.stub.spec import ProxySpec

__all__ = ["HOP_BY_HOP", "ProxyServed"]

# Headers about one connection, not the message (RFC 9110 7.6.1), and those the client library
# sets itself for the hop it makes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_TIMEOUT = aiohttp.ClientTimeout(total=60.0)
_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class ProxyServed:
    """Forwards calls with one client session, opened at the first call and closed by
    ``close``; keeps the exchanges it saw when its spec says record (they grow until read)."""

    def __init__(self, spec: ProxySpec) -> None:
        self.spec = spec
        self.exchanges: list[Exchange] = []
        self._upstream = spec.upstream.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def match(self, request: web.Request) -> Match:
        async def forward() -> web.StreamResponse:
            return await self._forward(request)

        return Match("proxy", forward)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = _end_to_end(request.headers.items())
        if self._session is None:
            # Raw bytes both ways: a gzip answer is passed (and recorded) as it came.
            self._session = aiohttp.ClientSession(
                timeout=_TIMEOUT,
                auto_decompress=False,
                connector=aiohttp.TCPConnector(limit=0),
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = RecordedRequest(request.method, request.raw_path, joined_headers(headers), body)
        try:
            answer = await self._session.request(
                request.method,
                URL(self._upstream + request.raw_path, encoded=True),
                headers=CIMultiDict(headers),
                data=body if body else None,
                allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        except _ERRORS as exc:
            return self._unreachable(exc)
        answer_headers = _end_to_end(answer.headers.items())
        headed = loop.time()
        latency_ms = (headed - started) * 1000.0
        if is_event_stream(answer.headers) and "Content-Encoding" not in answer.headers:
            return EventStream(
                self._relay(answer, sent, latency_ms, headed),
                status=answer.status,
                reason=answer.reason,
                headers=answer_headers,
            )
        try:
            payload = await answer.read()
        except _ERRORS as exc:
            return self._unreachable(exc)
        finally:
            answer.release()
        latency_ms = (loop.time() - started) * 1000.0
        self._keep(sent, answer, answer_headers, payload, latency_ms)
        return web.Response(
            status=answer.status,
            reason=answer.reason,
            headers=CIMultiDict(answer_headers),
            body=payload,
        )

    async def _relay(
        self,
        answer: aiohttp.ClientResponse,
        sent: RecordedRequest,
        latency_ms: float,
        headed: float,
    ) -> AsyncGenerator[bytes, None]:
        """The events of an event-stream answer as they arrive (its head came at the loop's
        time ``headed``); the answer is let go however the relay ends, and kept (when
        recording) with when each event came, once it arrived whole."""
        loop = asyncio.get_running_loop()
        splitter = EventSplitter()
        received: list[bytes] = []
        came_ms: list[float] = []
        whole = False
        try:
            async for data in answer.content.iter_any():
                received.append(data)
                for event in splitter.events(data):
                    came_ms.append((loop.time() - headed) * 1000.0)
                    yield event
            if rest := splitter.remainder():
                came_ms.append((loop.time() - headed) * 1000.0)
                yield rest
            whole = True
        except _ERRORS as exc:
            cause = str(exc) or type(exc).__name__
            raise StreamBroken(
                f"upstream {self._upstream} broke its stream (caused by {cause})"
            ) from exc
        finally:
            if whole:
                answer.release()
            else:
                # Not read to its end: the connection cannot carry another call.
                answer.close()
        headers = _end_to_end(answer.headers.items())
        self._keep(sent, answer, headers, b"".join(received), latency_ms, tuple(came_ms))

    def _keep(
        self,
        sent: RecordedRequest,
        answer: aiohttp.ClientResponse,
        headers: list[tuple[str, str]],
        payload: bytes,
        latency_ms: float,
        events_ms: tuple[float, ...] = (),
    ) -> None:
        if self.spec.record:
            recorded = RecordedResponse(answer.status, joined_headers(headers), payload, events_ms)
            self.exchanges.append(Exchange(sent, recorded, latency_ms))

    def _unreachable(self, exc: BaseException) -> web.Response:
        cause = str(exc) or type(exc).__name__
        return web.json_response(
            {"error": f"upstream {self._upstream} unreachable (caused by {cause})"},
            status=502,
        )


def _end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]
