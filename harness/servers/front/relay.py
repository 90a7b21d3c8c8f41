"""The data plane: every client connection with an upstream connection of its own, and the
calls between them forwarded and relayed as raw bytes.

httptools (llhttp) parses both directions only to find where each message starts and ends.
The fault decision is taken once per call, when its head is complete; with no fault active
a call costs a parse and a write each way. Calls on one connection are carried out one at a
time, in order: a pipelined call waits, parsed and held, until the one before it is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from typing import cast

import httptools

from harness.servers.front.answers import (
    answer_bytes,
    garbage,
    head_length,
    truncated,
    upstream_failed,
)
from harness.servers.front.boundaries import request_end
from harness.servers.front.counters import MALFORMED, UPSTREAM_FAILED, FrontCounters
from harness.servers.front.pacing import Pacer, Timer, release_plan
from harness.servers.httpfaults import ActiveFaults, Answer, Decision

__all__ = ["ClientSide", "Plane"]

# Bytes of calls received but not yet forwarded (queued behind the call in progress, held by
# a delay, or waiting for the upstream connection) before the client is no longer read.
_MAX_HELD = 256 * 1024
# A call's bytes are kept until it is answered, up to this size: to find where a pipelined
# call ends, and to send it again when a kept-alive upstream connection turns out closed.
_KEEP = 64 * 1024

# What is being done with a call.
_QUEUED = 0  # its head is incomplete, or it waits behind the call before it
_DELAYED = 1  # held by a delay fault
_FORWARDED = 2  # sent (or being sent) upstream; the answer is relayed
_LOCAL = 3  # answered by the fault layer once the request is fully received
_SENDING = 4  # the fault layer's own answer is being paced out

_LINGER_RESET = struct.pack("ii", 1, 0)
_BAD_REQUEST = Answer(
    400,
    (("Content-Type", "application/json"),),
    b'{"error": "the fault layer could not parse the request as HTTP/1.1"}',
)


class Plane:
    """What every connection of one fault layer shares."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        upstream: tuple[str, int],
        faults: ActiveFaults,
        counters: FrontCounters,
        dice: random.Random,
    ) -> None:
        self.loop = loop
        self.upstream = upstream
        self.upstream_name = f"{upstream[0]}:{upstream[1]}"
        self.faults = faults
        self.counters = counters
        self.dice = dice
        self.clients: set[ClientSide] = set()
        self._emptied: asyncio.Event | None = None

    def close(self) -> None:
        """End every client connection (and with it, its upstream connection)."""
        for client in list(self.clients):
            client.close()

    async def closed(self, timeout_s: float) -> None:
        """Wait until every client connection is gone, at most ``timeout_s``; abort the rest."""
        if self.clients:
            self._emptied = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), timeout_s)
        for client in list(self.clients):
            client.abort()

    def forget(self, client: ClientSide) -> None:
        self.clients.discard(client)
        if not self.clients and self._emptied is not None:
            self._emptied.set()


class _Call:
    """One request and what is being done with it."""

    __slots__ = (
        "closes",
        "complete",
        "decision",
        "head",
        "kept",
        "kept_bytes",
        "pending",
        "responded",
        "retried",
        "stage",
        "upgrade",
    )

    def __init__(self) -> None:
        self.stage = _QUEUED
        self.decision: Decision | None = None
        self.head = self.upgrade = self.complete = self.responded = self.retried = False
        # The connection ends once this call is answered.
        self.closes = False
        # Received and not yet forwarded.
        self.pending: list[bytes] = []
        self.kept: list[bytes] | None = []
        self.kept_bytes = 0


class _PipelinedCall(Exception):
    """A second request began in the bytes that finished the first."""


class ClientSide(asyncio.Protocol):
    """One client connection: parses its calls, applies their faults, forwards the rest."""

    def __init__(self, plane: Plane) -> None:
        self._plane = plane
        self._loop = plane.loop
        self._faults = plane.faults
        self._counters = plane.counters
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._calls: deque[_Call] = deque()
        # The call whose bytes the parser is reading.
        self._parsing: _Call | None = None
        self._ended_in_feed = False
        self._unparsable = False
        self._upstream: _UpstreamSide | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._held = 0
        self._reading = True
        self._upstream_full = False
        self._client_full = False
        # Bytes after an upgrade request, held until its answer says what they are.
        self._after_upgrade: list[bytes] | None = None
        self._tunnel = False
        self._timer: Timer | None = None
        self._pacer: Pacer | None = None
        self._closed = False
        self._eof = False

    # --- the client's connection -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._counters.connections += 1
        self._plane.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._stop_timers()
        # Whatever the upstream still sends has nobody to go to.
        self._drop_upstream(abort=True)
        self._plane.forget(self)

    def eof_received(self) -> bool:
        self._eof = True
        if self._tunnel or not self._calls or not self._calls[-1].complete:
            # Nothing left to answer, or a request that can no longer complete.
            self._drop_upstream(abort=False)
            return False
        # Keep the connection open to write the answers still owed.
        return True

    def pause_writing(self) -> None:
        self._client_full = True
        upstream = self._upstream
        if upstream is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        self._client_full = False
        upstream = self._upstream
        if upstream is not None:
            upstream.resume_reading()

    def data_received(self, data: bytes) -> None:
        self._counters.request_bytes += len(data)
        if self._tunnel:
            if self._upstream is not None:
                self._upstream.write(data)
            return
        if self._after_upgrade is not None:
            self._after_upgrade.append(data)
            self._hold(len(data))
            return
        if self._unparsable:
            return
        self._feed(data)
        self._pump()

    def abort(self) -> None:
        """Close at once, dropping what was not sent yet."""
        self._closed = True
        self._stop_timers()
        if self._transport is not None:
            self._transport.abort()
        self._drop_upstream(abort=True)

    def close(self) -> None:
        """Close after what was written so far is sent."""
        if self._closed:
            return
        self._closed = True
        self._stop_timers()
        if self._transport is not None:
            self._transport.close()
        self._drop_upstream(abort=False)

    # --- parsing requests --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._ended_in_feed:
            raise _PipelinedCall
        call = _Call()
        self._parsing = call
        self._calls.append(call)

    def on_headers_complete(self) -> None:
        call = self._parsing
        if call is None:  # pragma: no cover - llhttp begins every message first
            return
        parser = self._parser
        call.head = parser.get_method() == b"HEAD"
        call.closes = not parser.should_keep_alive()
        call.upgrade = parser.should_upgrade()
        faults = self._faults
        if faults:
            decision = faults.decide()
            if decision.injected:
                self._counters.hit_by(decision.injected)
            call.decision = decision
        else:
            call.decision = _UNTOUCHED

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing.complete = True
        self._ended_in_feed = True

    def _feed(self, data: bytes) -> None:
        while data:
            self._ended_in_feed = False
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                end = int(upgrade.args[0])
                self._take(data[:end])
                self._after_upgrade = []
                if end < len(data):
                    self._after_upgrade.append(data[end:])
                    self._hold(len(data) - end)
                return
            except httptools.HttpParserCallbackError as exc:
                if not isinstance(exc.__context__, _PipelinedCall):
                    raise
                data = self._split(data)
                continue
            except httptools.HttpParserError:
                self._refuse()
                return
            self._take(data)
            return

    def _split(self, data: bytes) -> bytes:
        """Give the call that ``data`` finishes its share; the rest, for a fresh parser."""
        self._parser = httptools.HttpRequestParser(self)
        call = self._parsing
        if call is None or call.kept is None:
            # Too big a call to look for its end again: answer it, then close, and let the
            # client send the calls after it again on a new connection.
            if call is not None:
                call.closes = True
            self._unparsable = True
            return b""
        end = request_end(call.kept, data)
        self._take(data[:end])
        return data[end:]

    def _refuse(self) -> None:
        """Not HTTP/1.x: answer 400 once the calls before are answered, then close."""
        self._unparsable = True
        broken = self._parsing
        if broken is not None and not broken.complete:
            if broken.stage != _QUEUED:
                # Part of it is on its way upstream already: nothing sensible can follow.
                self.close()
                return
            self._calls.remove(broken)
            self._unhold(sum(map(len, broken.pending)))
        call = _Call()
        call.decision = Decision(answer=_BAD_REQUEST)
        call.complete = call.closes = True
        call.kept = None
        self._calls.append(call)

    def _take(self, data: bytes) -> None:
        """``data`` belongs to the call being parsed: forward it, or hold it."""
        call = self._parsing
        if call is None or not data or (call.complete and not self._ended_in_feed):
            # Blank lines between calls, which llhttp skips and the upstream may as well.
            return
        kept = call.kept
        if kept is not None:
            call.kept_bytes += len(data)
            if call.kept_bytes <= _KEEP:
                kept.append(data)
            else:
                call.kept = None
        if call.responded:
            # Answered before it was fully sent (a 413, say): the rest is not wanted.
            return
        stage = call.stage
        if stage == _FORWARDED and self._upstream is not None and not call.pending:
            self._upstream.write(data)
        elif stage <= _FORWARDED:
            call.pending.append(data)
            self._hold(len(data))
        # Else the fault layer answers this call itself: the rest of it is read and dropped.

    # --- carrying calls out, in order ----------------------------------------------------------

    def _pump(self) -> None:
        calls = self._calls
        while calls and not self._closed:
            call = calls[0]
            stage = call.stage
            if stage == _QUEUED:
                decision = call.decision
                if decision is None:
                    return
                if decision.delay_s > 0:
                    call.stage = _DELAYED
                    self._timer = Timer(self._loop, decision.delay_s, self._delay_over)
                    return
                stage = self._begin(call, decision)
            if stage == _FORWARDED:
                if not call.responded:
                    self._forward(call)
            elif stage == _LOCAL:
                if not call.complete:
                    return
                self._answer_locally(call)
            if not (call.complete and call.responded) or self._closed:
                return
            calls.popleft()
            if call.closes or (self._eof and not calls):
                self.close()
                return
            if call.upgrade and self._after_upgrade is not None:
                self._parse_after_upgrade()

    def _begin(self, call: _Call, decision: Decision) -> int:
        if decision.answer is None and decision.malformed is None:
            call.stage = _FORWARDED
        else:
            call.stage = _LOCAL
            if call.pending:
                self._unhold(sum(map(len, call.pending)))
                call.pending = []
        return call.stage

    def _delay_over(self) -> None:
        self._timer = None
        call = self._calls[0]
        if call.decision is not None:
            self._begin(call, call.decision)
        self._pump()

    def _forward(self, call: _Call) -> None:
        upstream = self._upstream
        if upstream is None:
            if self._connecting is None:
                self._connecting = self._loop.create_task(self._connect())
            return
        if upstream.call is not call:
            upstream.expect(call)
        pending = call.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            call.pending = []
            self._unhold(len(data))
            upstream.write(data)

    def _answer_locally(self, call: _Call) -> None:
        decision = call.decision
        if decision is None:  # pragma: no cover - a call is decided before it is answered
            return
        if decision.malformed is not None:
            self._break(decision.malformed)
            return
        if decision.answer is None:  # pragma: no cover - _begin routed it here for one
            return
        payload, head = answer_bytes(decision.answer, head=call.head, keep=not call.closes)
        self._send(call, decision.answer.status, payload, head)

    def _send(self, call: _Call, status: int, payload: bytes, head: int) -> None:
        """Write an answer the fault layer holds whole, shaped as the call's decision says."""
        decision = call.decision
        if decision is None or (decision.slow_body is None and decision.bytes_per_s is None):
            self.relay(payload)
            self._counters.answered(status)
            call.responded = True
            return
        call.stage = _SENDING
        plan = release_plan(payload, head, decision.slow_body, decision.bytes_per_s)

        def sent() -> None:
            self._pacer = None
            self._counters.answered(status)
            call.responded = True
            self._pump()

        self._pacer = Pacer(self._loop, plan, self.relay, sent)
        self._pacer.start()

    def _break(self, kind: str) -> None:
        """The connection-level malformed answers: close with nothing, a cut answer, garbage
        or a reset."""
        self._counters.answered(MALFORMED)
        transport = self._transport
        if transport is None:  # pragma: no cover - calls arrive on a made connection
            return
        if kind == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger on, for zero seconds: close sends RST and the client reads ECONNRESET.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self._closed = True
            self._stop_timers()
            transport.abort()
            self._drop_upstream(abort=True)
            return
        if kind == "truncated":
            self.relay(truncated())
        elif kind == "random_bytes":
            self.relay(garbage(self._plane.dice))
        self.close()

    def _parse_after_upgrade(self) -> None:
        """The upstream refused the upgrade: what followed the request is more requests."""
        held = self._after_upgrade or []
        self._after_upgrade = None
        self._unhold(sum(map(len, held)))
        self._parser = httptools.HttpRequestParser(self)
        self._feed(b"".join(held))

    # --- the upstream's side -------------------------------------------------------------------

    async def _connect(self) -> None:
        host, port = self._plane.upstream
        try:
            _, upstream = await self._loop.create_connection(
                lambda: _UpstreamSide(self), host, port
            )
        except OSError as exc:
            self._connecting = None
            if not self._closed and self._calls:
                self._upstream_failed(self._calls[0], f"{type(exc).__name__}: {exc}")
            return
        self._connecting = None
        if self._closed:
            upstream.close()
            return
        self._counters.upstream_connections += 1
        self._upstream = upstream
        if self._client_full:
            upstream.pause_reading()
        self._pump()

    def relay(self, data: bytes) -> None:
        """Write ``data`` to the client."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._counters.response_bytes += len(data)
            transport.write(data)

    def answered(self, call: _Call, status: int, keep: bool, held: bytes | None) -> None:
        """The upstream answered ``call`` in full: relayed already, or ``held`` for shaping."""
        if not keep:
            call.closes = True
            self._forget_upstream()
        if held is None:
            self._counters.answered(status)
            call.responded = True
        else:
            self._send(call, status, held, head_length(held))
        self._pump()

    def upstream_full(self, full: bool) -> None:
        self._upstream_full = full
        self._update_reading()

    def upstream_lost(self, upstream: _UpstreamSide) -> None:
        """The upstream connection closed: idle, mid-answer, or before answering."""
        if upstream is not self._upstream:
            return
        self._forget_upstream()
        call = upstream.call
        if call is None or self._closed:
            # An idle connection the upstream let go: the next call opens a new one.
            return
        if self._tunnel:
            self.close()
            return
        if not upstream.got:
            if upstream.served and call.kept is not None and not call.retried:
                # Closed as the call went out on a kept-alive connection: send it once more on
                # a fresh one, as browsers and libcurl do.
                call.retried = True
                self._unhold(sum(map(len, call.pending)))
                call.pending = list(call.kept)
                self._hold(call.kept_bytes)
                self._pump()
                return
            self._upstream_failed(call, "it closed the connection before answering")
            return
        held = upstream.held()
        if upstream.final:
            # An answer that ends with the connection (no length) or cut short: the client
            # gets what the upstream sent, then the close, as without the fault layer.
            call.closes = True
            if held is not None:
                self._send(call, upstream.status, held, head_length(held))
                call.complete = True
                self._pump()
                return
            self._counters.answered(upstream.status)
        else:
            if held is not None:
                self.relay(held)
            self._counters.answered(UPSTREAM_FAILED)
        self.close()

    def tunnel(self) -> None:
        """101 Switching Protocols: from now on, bytes pass both ways unparsed."""
        self._tunnel = True
        self._counters.answered(101)
        if self._calls:
            self._calls.popleft()
        held = self._after_upgrade or []
        self._after_upgrade = None
        self._unhold(sum(map(len, held)))
        if self._upstream is not None and held:
            self._upstream.write(b"".join(held))

    def upstream_broke(self) -> None:
        """The upstream answered something that is not HTTP: relayed as it came, then both
        connections close."""
        self._counters.answered(UPSTREAM_FAILED)
        self._drop_upstream(abort=True)
        self.close()

    def _upstream_failed(self, call: _Call, cause: str) -> None:
        """Nothing of an answer came: say so with a 502, then close."""
        self._counters.answered(UPSTREAM_FAILED)
        self.relay(upstream_failed(self._plane.upstream_name, cause))
        call.closes = True
        self.close()

    def _forget_upstream(self) -> None:
        """The upstream connection is closing: the next call opens another."""
        self._upstream = None
        if self._upstream_full:
            self._upstream_full = False
            self._update_reading()

    def _drop_upstream(self, *, abort: bool) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            if abort or upstream.call is not None:
                upstream.abort()
            else:
                upstream.close()

    # --- flow control ----------------------------------------------------------------------

    def _hold(self, size: int) -> None:
        self._held += size
        if self._held > _MAX_HELD and self._reading:
            self._update_reading()

    def _unhold(self, size: int) -> None:
        self._held -= size
        if not self._reading:
            self._update_reading()

    def _update_reading(self) -> None:
        want = not self._upstream_full and self._held <= _MAX_HELD
        transport = self._transport
        if want == self._reading or transport is None or transport.is_closing():
            return
        self._reading = want
        if want:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def _stop_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pacer is not None:
            self._pacer.cancel()
            self._pacer = None


_UNTOUCHED = Decision()


class _UpstreamSide(asyncio.Protocol):
    """The upstream connection of one client connection: relays answers, call by call."""

    def __init__(self, client: ClientSide) -> None:
        self._client = client
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        # The call being answered; None while idle.
        self.call: _Call | None = None
        self.served = 0
        self.got = False
        self.final = False
        self.status = 0
        self._keep = True
        self._done = False
        self._tunnel = False
        # The answer, held whole for a slow body or a throughput limit.
        self._shaped: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client.upstream_lost(self)

    def pause_writing(self) -> None:
        self._client.upstream_full(True)

    def resume_writing(self) -> None:
        self._client.upstream_full(False)

    def expect(self, call: _Call) -> None:
        self.call = call
        self.got = self.final = self._done = False
        decision = call.decision
        shaped = decision is not None and (
            decision.slow_body is not None or decision.bytes_per_s is not None
        )
        self._shaped = [] if shaped else None

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
        self.got = True
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
        call = self.call
        if call is not None and call.head:
            # No body follows a HEAD answer, whatever its Content-Length says.
            self._done = True

    def on_message_complete(self) -> None:
        if self.final:
            self._done = True

    def _answered(self, call: _Call) -> None:
        self.call = None
        self.served += 1
        if call.head:
            # Its parser still waits for the body a HEAD answer never has: start afresh.
            self._parser = httptools.HttpResponseParser(self)
        keep = self._keep
        if not keep:
            self.close()
        self._client.answered(call, self.status, keep, self.held())
