"""Carrying out one fault ``Decision`` in an aiohttp handler.

``carry_out`` waits the decision's delay, then either sends its made-up answer, breaks the
connection, or calls the real handler; whatever answer goes out is dribbled or paced when the
decision says so, except a streamed answer (an ``EventStream``), which is sent event by event
with the decision's stream fault carried out on it. A broken connection is done by a response
whose ``prepare`` writes to (or aborts) the transport itself and then raises
ConnectionResetError: aiohttp takes that for a client that went away, writes nothing more and
logs no traceback.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_request import BaseRequest

from faults.http import SlowBody
from harness.servers.httpfaults.active import Answer, Decision
from harness.servers.httpfaults.event_stream import EventStream

__all__ = ["BrokenConnection", "Respond", "carry_out"]

# Makes the real answer to a call.
Respond = Callable[[], Awaitable[web.StreamResponse]]

# The head a ``truncated`` answer sends: its Content-Length promises more than follows.
_TRUNCATED_BODY = b'{"predictions": [[0.12, 0.5'
_TRUNCATED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n"
)
_GARBAGE_BYTES = 256
# How often a paced answer writes: fine enough to look like a slow link, coarse enough that
# timer overhead does not slow it further.
_PACE_S = 0.02
# Headers the shaped copy of an answer sets itself.
_LENGTH_HEADERS = frozenset({hdrs.CONTENT_LENGTH.lower(), hdrs.TRANSFER_ENCODING.lower()})


async def carry_out(
    request: web.Request, decision: Decision, respond: Respond, dice: random.Random
) -> web.StreamResponse:
    """The answer to ``request`` once ``decision`` is carried out; ``respond`` makes the real
    one and is not called when the decision answers in its place. ``dice`` draws the bytes of
    a ``random_bytes`` answer."""
    if decision.delay_s > 0:
        await asyncio.sleep(decision.delay_s)
    if decision.malformed is not None:
        # Read the request to its end: closing a socket with unread bytes sends a reset, which
        # is the ``reset`` kind's answer and no other's.
        await request.read()
        return BrokenConnection(decision.malformed, dice.randbytes(_GARBAGE_BYTES))
    response = _answer(decision.answer) if decision.answer is not None else await respond()
    if isinstance(response, EventStream):
        # Sent here, so a stream fault can act event by event; shaping is for whole bodies.
        await response.send(request, decision.stream)
        return response
    if decision.slow_body is None and decision.bytes_per_s is None:
        return response
    if not isinstance(response, web.Response) or response.prepared:
        return response
    body = response.body
    if not isinstance(body, bytes):
        return response
    return await _shaped(request, response, body, decision.slow_body, decision.bytes_per_s)


class BrokenConnection(web.StreamResponse):
    """An answer that breaks its connection instead of being an HTTP answer: ``empty`` (closed
    with nothing sent), ``truncated`` (a 200 whose body stops short of its Content-Length),
    ``random_bytes`` (``garbage``, then closed) or ``reset`` (an RST: ECONNRESET at the client)."""

    def __init__(self, what: str, garbage: bytes = b"") -> None:
        super().__init__(status=200)
        self.what = what
        self._garbage = garbage

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            if self.what == "reset":
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0: close() drops the connection with an RST, not a FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                if self.what == "truncated":
                    head = _TRUNCATED_HEAD % (2 * len(_TRUNCATED_BODY))
                    transport.write(head + _TRUNCATED_BODY)
                elif self.what == "random_bytes":
                    transport.write(self._garbage)
                # close(), unlike abort(), sends what was written first.
                transport.close()
        raise ConnectionResetError(f"connection broken on purpose ({self.what})")


def _answer(answer: Answer) -> web.Response:
    return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))


async def _shaped(
    request: web.Request,
    response: web.Response,
    body: bytes,
    slow: SlowBody | None,
    bytes_per_s: float | None,
) -> web.StreamResponse:
    """``response`` sent with its head at once and its body in ``slow.chunks`` pieces, piece k
    at k/chunks of ``slow.duration_ms``, and no faster than ``bytes_per_s``."""
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    for name, value in response.headers.items():
        if name.lower() not in _LENGTH_HEADERS:
            stream.headers.add(name, value)
    stream.content_length = len(body)
    loop = asyncio.get_running_loop()
    try:
        await stream.prepare(request)
        start = loop.time()
        pieces = slow.chunks if slow is not None else 1
        duration_s = slow.duration_ms / 1000.0 if slow is not None else 0.0
        sent = 0
        for index, piece in enumerate(_split(body, pieces), start=1):
            not_before = start + duration_s * index / pieces
            for part in _split_paced(piece, bytes_per_s):
                sent += len(part)
                due = (
                    not_before
                    if bytes_per_s is None
                    else max(not_before, start + sent / bytes_per_s)
                )
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if part:
                    await stream.write(part)
    except ConnectionError:
        # The client went away mid-answer; aiohttp notices when it finishes the response.
        pass
    return stream


def _split(body: bytes, pieces: int) -> list[bytes]:
    """``body`` in ``pieces`` runs of nearly equal length (some empty if it is shorter)."""
    size, extra = divmod(len(body), pieces)
    out = []
    at = 0
    for index in range(pieces):
        end = at + size + (1 if index < extra else 0)
        out.append(body[at:end])
        at = end
    return out


def _split_paced(piece: bytes, bytes_per_s: float | None) -> list[bytes]:
    if bytes_per_s is None or not piece:
        return [piece]
    step = max(1, int(bytes_per_s * _PACE_S))
    return [piece[at : at + step] for at in range(0, len(piece), step)]
