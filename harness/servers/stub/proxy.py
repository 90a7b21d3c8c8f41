"""The ``proxy`` kind: every call forwarded to the real API, its answer passed back, and with
``record`` each exchange kept (with how long the API took) to be saved as a recording."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

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

    async def _forward(self, request: web.Request) -> web.Response:
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
        try:
            async with self._session.request(
                request.method,
                URL(self._upstream + request.raw_path, encoded=True),
                headers=CIMultiDict(headers),
                data=body if body else None,
                allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            ) as answer:
                payload = await answer.read()
                status, reason = answer.status, answer.reason
                answer_headers = _end_to_end(answer.headers.items())
        except _ERRORS as exc:
            cause = str(exc) or type(exc).__name__
            return web.json_response(
                {"error": f"upstream {self._upstream} unreachable (caused by {cause})"},
                status=502,
            )
        latency_ms = (loop.time() - started) * 1000.0
        if self.spec.record:
            self.exchanges.append(
                Exchange(
                    RecordedRequest(
                        request.method, request.raw_path, joined_headers(headers), body
                    ),
                    RecordedResponse(status, joined_headers(answer_headers), payload),
                    latency_ms,
                )
            )
        return web.Response(
            status=status, reason=reason, headers=CIMultiDict(answer_headers), body=payload
        )


def _end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]
