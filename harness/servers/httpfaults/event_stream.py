"""A streamed answer of server-sent events from an aiohttp handler, sent with the call's stream
fault (if any) carried out on it.

A handler returns an :class:`EventStream` unsent; ``carry_out`` sends it once the call's fault
decision is known. Its events come from an async generator of whole events (each ending in a
blank line), which paces them itself: a scripted route at its rate, a proxy as the upstream
sends them. The generator is always closed when the answer ends, so a proxy lets go of its
upstream answer whether the stream ended, was cut or is held open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

from aiohttp import web

from faults.http import StreamFault
from harness.servers.httpfaults.event_faults import EventBreaker, Step

__all__ = ["EventStream", "StreamBroken"]

# How often a stream held open with no end looks whether its client is still there (where
# handlers are not cancelled when the client goes away).
_GONE_POLL_S = 0.05


class StreamBroken(Exception):
    """Raised by an event source whose own upstream broke mid-stream: the answer is cut the
    same way, so the caller sees what the upstream did."""


class EventStream(web.StreamResponse):
    """Server-sent events, not yet sent: :meth:`send` writes them (chunked, as they come)."""

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        status: int = 200,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(status=status, reason=reason)
        for name, value in headers:
            self.headers.add(name, value)
        self.headers.setdefault("Content-Type", "text/event-stream")
        self.headers.setdefault("Cache-Control", "no-cache")
        self._events = events

    async def send(self, request: web.BaseRequest, fault: StreamFault | None) -> None:
        """Write the head, then each event when it is due, broken as ``fault`` says."""
        loop = asyncio.get_running_loop()
        breaker = None if fault is None else EventBreaker(fault)
        events = self._events
        try:
            await self.prepare(request)
            async for event in events:
                step = Step("send", event) if breaker is None else breaker.step(event, loop.time())
                if step.what == "cut":
                    _cut(request)
                    return
                if step.what == "hold":
                    await events.aclose()
                    await _until_gone(request)
                    return
                wait = step.not_before - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.write(step.event)
            await self.write_eof()
        except StreamBroken:
            _cut(request)
        except ConnectionError:
            # The client went away mid-stream; aiohttp notices when it finishes the answer.
            pass
        finally:
            await events.aclose()


def _cut(request: web.BaseRequest) -> None:
    """Close the connection mid-body: what was written goes out first (unlike an abort), and
    the chunked body never ends, so the client sees the stream cut."""
    transport = request.transport
    if transport is not None and not transport.is_closing():
        transport.close()


async def _until_gone(request: web.BaseRequest) -> None:
    """Return once the client has closed the connection (or the handler is cancelled)."""
    # aiohttp gives a handler no event for its client leaving, only a transport that goes.
    while (transport := request.transport) is not None and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(_GONE_POLL_S)
