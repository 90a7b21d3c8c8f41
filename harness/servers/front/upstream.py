"""The upstream side of the data plane: one connection per client connection, relaying
each call's answer as raw bytes, or holding it whole when the answer is to be shaped."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from harness.servers.front.answers import head_keeps_alive
from harness.servers.front.calls import Call
from harness.servers.front.ledger import retry_after_in
from harness.servers.front.streams import StreamBreaker
from harness.servers.httpfaults.events import EventSplitter, spoil

if TYPE_CHECKING:
    from harness.servers.front.downstream import ClientSide

__all__ = ["UpstreamSide"]


class UpstreamSide(asyncio.Protocol):
    """The upstream connection of one client connection: relays answers, call by call."""

    def __init__(self, client: ClientSide) -> None:
        self._client = client
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        # The call being answered; None while idle.
        self.call: Call | None = None
        self.served = 0
        self.got = False
        self.final = False
        self.status = 0
        self._keep = True
        self._done = False
        self._tunnel = False
        # The answer, held whole for a slow body or a throughput limit.
        self._shaped: list[bytes] | None = None
        # The answer to a HEAD call so far, to read its head's Connection header.
        self._head: list[bytes] | None = None
        # Interim answers (100 Continue) completed in the bytes held for shaping.
        self._interim = 0
        # A stream fault on the call being answered; while a stall runs, its timer and the
        # bytes it holds.
        self._breaker: StreamBreaker | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._stalled: list[bytes] | None = None
        # After a slow or malformed stream fault tripped: the events, and those waiting.
        self._events: EventSplitter | None = None
        self._queued: deque[bytes] = deque()
        self._pacer: asyncio.TimerHandle | None = None
        self._spoil = False
        self._every_s = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._stall, self._pacer):
            if timer is not None:
                timer.cancel()
        self._stall = self._pacer = None
        self._client.upstream_lost(self)

    def pause_writing(self) -> None:
        self._client.upstream_full(True)

    def resume_writing(self) -> None:
        self._client.upstream_full(False)

    def expect(self, call: Call) -> None:
        self.call = call
        self.got = self.final = self._done = False
        self._interim = 0
        decision = call.decision
        shaped = decision is not None and (
            decision.slow_body is not None or decision.bytes_per_s is not None
        )
        self._shaped = [] if shaped else None
        self._head = [] if call.head else None
        stream = None if decision is None or shaped else decision.stream
        self._breaker = None if stream is None else StreamBreaker(stream)
        self._events = None
        self._queued.clear()
        if self._pacer is not None:
            # Left from the answer before: it is out whole.
            self._pacer.cancel()
            self._pacer = None

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def held(self) -> bytes | None:
        shaped, self._shaped = self._shaped, None
        return None if shaped is None else b"".join(shaped)

    def pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        client = self._client
        if self._tunnel:
            client.relay(data)
            return
        call = self.call
        if call is None:
            # Spoken out of turn (an idle timeout's 408, say): not trusted with another call.
            self.close()
            return
        if self._stalled is not None:
            # Read while a stall holds the answer (the client side resumed reading): kept in
            # order behind what the stall holds.
            self._stalled.append(data)
            return
        if self._events is not None:
            self._pace(call, data)
            return
        breaker = self._breaker
        if breaker is not None:
            out, rest = breaker.split(data)
            if breaker.tripped:
                self._break_stream(call, breaker, out, rest)
                return
        self._take(call, data)

    def _break_stream(self, call: Call, breaker: StreamBreaker, out: bytes, rest: bytes) -> None:
        """The stream fault trips: ``out`` goes on as usual, then ``rest`` waits out a stall,
        is cut off with the connection, goes out slowly or with its next event spoilt, or (no
        end) is never sent."""
        if breaker.fault.action == "no_done":
            # Dropped, never parsed: the call stays open until the client gives up.
            if out:
                self._take(call, out)
            return
        self._breaker = None
        if out:
            self._take(call, out)
        if breaker.fault.action == "cut":
            self.abort()
            return
        if breaker.fault.action in ("slow", "malformed"):
            self._events = breaker.splitter()
            self._spoil = breaker.fault.action == "malformed"
            self._every_s = 1.0 / breaker.fault.events_per_s if not self._spoil else 0.0
            self._pace(call, rest)
            return
        self.pause_reading()
        self._stalled = [rest] if rest else []

        def release() -> None:
            held, self._stalled, self._stall = self._stalled or [], None, None
            self.resume_reading()
            if held and self.call is call:
                self._take(call, b"".join(held))

        loop = asyncio.get_running_loop()
        self._stall = loop.call_later(breaker.fault.stall_ms / 1000.0, release)

    def _pace(self, call: Call, data: bytes) -> None:
        """Bytes after a slow or malformed stream fault tripped: whole events, the first one
        spoilt (malformed) or let out one per interval (slow)."""
        events = self._events
        if events is None:
            return
        found = events.events(data)
        if self._spoil and found:
            found[0] = spoil(found[0])
            self._spoil = False
        if not self._every_s:
            for event in found:
                self._take(call, event)
            if framing := events.framing():
                self._take(call, framing)
            return
        self._queued.extend(found)
        if self._pacer is None:
            self._let_out(call)

    def _let_out(self, call: Call) -> None:
        """One event out now, the next one interval later; the answer's closing framing once
        every event is out."""
        self._pacer = None
        if self.call is not call or self._events is None:
            return
        if self._queued:
            self._take(call, self._queued.popleft())
        elif framing := self._events.framing():
            self._take(call, framing)
            return
        else:
            return
        loop = asyncio.get_running_loop()
        self._pacer = loop.call_later(self._every_s, self._let_out, call)

    def _take(self, call: Call, data: bytes) -> None:
        """Relay (or hold, for shaping) and parse bytes of ``call``'s answer."""
        client = self._client
        self.got = True
        if self._head is not None:
            self._head.append(data)
        shaped = self._shaped
        if shaped is None:
            client.relay(data)
        else:
            shaped.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self.status == 101:
                self._tunnel = True
                held = self.held()
                if held is not None:
                    client.relay(held)
                self.call = None
                client.tunnel()
                return
        except httptools.HttpParserError:
            # Not HTTP: the client has what came; the connection cannot carry on.
            held = self.held()
            if held is not None:
                client.relay(held)
            self.call = None
            client.upstream_broke()
            return
        if call.tag >= 0 and self.final and call.retry_after is None and self.status in (429, 503):
            # A client under test was told to come back later: note when, from the head.
            call.retry_after = retry_after_in(data)
        if self._interim and self._shaped is not None:
            self._pass_interim(self._shaped)
        if self._done:
            self._answered(call)

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if status < 200 and status != 101:
            # An interim answer (100 Continue): relayed, and the real one follows.
            return
        self.status = status
        self.final = True
        self._keep = parser.should_keep_alive()
        if self._head is not None:
            # No body follows a HEAD answer, whatever its head says: llhttp would wait for
            # one, and take a HEAD answer without a length for one that ends the connection.
            self._done = True
            self._keep = head_keeps_alive(b"".join(self._head))

    def on_message_complete(self) -> None:
        if self.final:
            self._done = True
        else:
            self._interim += 1

    def _pass_interim(self, shaped: list[bytes]) -> None:
        """Interim answers go out at once even when the answer is held for shaping: a client
        that sent Expect: 100-continue waits for one before it sends the body."""
        held = b"".join(shaped)
        for _ in range(self._interim):
            # An interim answer is a head and nothing else.
            end = held.find(b"\r\n\r\n") + 4
            self._client.relay(held[:end])
            held = held[end:]
        self._interim = 0
        shaped[:] = [held] if held else []

    def _answered(self, call: Call) -> None:
        self.call = None
        self.served += 1
        if self._head is not None:
            self._head = None
            # Its parser still waits for the body a HEAD answer never has: start afresh.
            self._parser = httptools.HttpResponseParser(self)
        keep = self._keep
        if not keep:
            self.close()
        held = None if self._shaped is None else self.held()
        self._client.answered(call, self.status, keep, held)
