"""The client side of the data plane: every client connection with an upstream connection of
its own, and the calls between them forwarded and relayed as raw bytes.

httptools (llhttp) parses both directions only to find where each message starts and ends.
The fault decision is taken once per call, when its head is complete; with no fault active
a call costs a parse and a write each way. Calls on one connection are carried out one at a
time, in order: a pipelined call waits, parsed and held, until the one before it is answered.
"""

from __future__ import annotations

import asyncio
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
from harness.servers.front.calls import (
    DELAYED,
    FORWARDED,
    LOCAL,
    QUEUED,
    SENDING,
    UNTOUCHED,
    Call,
)
from harness.servers.front.counters import MALFORMED, UPSTREAM_FAILED
from harness.servers.front.ledger import CALL_PREFIX, retry_after_in, untag
from harness.servers.front.pacing import Pacer, Timer, release_plan
from harness.servers.front.plane import Plane
from harness.servers.front.upstream import UpstreamSide
from harness.servers.httpfaults import Answer, Decision

__all__ = ["ClientSide"]

# Bytes of calls received but not yet forwarded (queued behind the call in progress, held by
# a delay, or waiting for the upstream connection) before the client is no longer read.
_MAX_HELD = 256 * 1024
# A call's bytes are kept until it is answered, up to this size: to find where a pipelined
# call ends, and to send it again when a kept-alive upstream connection turns out closed.
_KEEP = 64 * 1024

_LINGER_RESET = struct.pack("ii", 1, 0)
_TAGGABLE = b" " + CALL_PREFIX
# Answers that tell a client when to come back.
_SHEDDING = frozenset({429, 503})
_BAD_REQUEST = Answer(
    400,
    (("Content-Type", "application/json"),),
    b'{"error": "the fault layer could not parse the request as HTTP/1.1"}',
)


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
        self._calls: deque[Call] = deque()
        # The call whose bytes the parser is reading.
        self._parsing: Call | None = None
        self._ended_in_feed = False
        self._unparsable = False
        self._upstream: UpstreamSide | None = None
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
        calls = self._calls
        if calls:
            head = calls[0]
            # A call on its way upstream waits for its answer: nothing to do until it comes.
            if head.stage != FORWARDED or head.pending or head.replied or self._upstream is None:
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
        call = Call()
        self._parsing = call
        self._calls.append(call)

    def on_headers_complete(self) -> None:
        call = self._parsing
        if call is None:  # pragma: no cover - llhttp begins every message first
            return
        parser = self._parser
        call.head = parser.get_method() == b"HEAD"
        call.closes = not parser.should_keep_alive()
        faults = self._faults
        if faults:
            decision = faults.decide()
            if decision.injected:
                self._counters.hit_by(decision.injected)
            call.decision = decision
        else:
            call.decision = UNTOUCHED
            upstream = self._upstream
            if upstream is not None and upstream.call is None and self._calls[0] is call:
                # The common case, taken here so the call's bytes go straight upstream as
                # they come instead of through the queue.
                call.stage = FORWARDED
                upstream.expect(call)

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
                if self._parsing is not None:
                    self._parsing.upgrade = True
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
            # Too big a call to look for its end again: all of ``data`` goes with it (the
            # upstream reads its end, and the start of the next call, which it never gets
            # in full); once it is answered both connections close, and the client sends the
            # calls after it again on a new connection, as pipelining clients do.
            self._take(data)
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
            if broken.stage != QUEUED:
                # Part of it is on its way upstream already: nothing sensible can follow.
                self.close()
                return
            self._calls.remove(broken)
            self._unhold(sum(map(len, broken.pending)))
        call = Call()
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
        if call.kept_bytes == 0 and data.startswith(_TAGGABLE, data.find(b" ")):
            # The first bytes of a client-under-test's attempt: note its call, strip the tag.
            data, call.tag = untag(data)
            call.started = self._loop.time()
        if kept is not None:
            call.kept_bytes += len(data)
            if call.kept_bytes <= _KEEP:
                kept.append(data)
            else:
                call.kept = None
        stage = call.stage
        if stage == FORWARDED and self._upstream is not None and not call.pending:
            # Also once answered early (a 413, say): a kept-alive upstream reads the rest.
            self._upstream.write(data)
        elif stage < FORWARDED or (stage == FORWARDED and not call.replied):
            call.pending.append(data)
            self._hold(len(data))
        # Else nobody wants the rest: the fault layer answers the call itself, or the upstream
        # that answered it early is gone.

    # --- carrying calls out, in order ----------------------------------------------------------

    def _pump(self) -> None:
        calls = self._calls
        while calls and not self._closed:
            call = calls[0]
            stage = call.stage
            if stage == QUEUED:
                decision = call.decision
                if decision is None:
                    return
                if decision.delay_s > 0:
                    call.stage = DELAYED
                    self._timer = Timer(self._loop, decision.delay_s, self._delay_over)
                    return
                stage = self._begin(call, decision)
            if stage == FORWARDED:
                if call.pending or not call.replied:
                    self._forward(call)
            elif stage == LOCAL:
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

    def _begin(self, call: Call, decision: Decision) -> int:
        if decision.answer is None and decision.malformed is None:
            call.stage = FORWARDED
        else:
            call.stage = LOCAL
            self._drop_pending(call)
        return call.stage

    def _delay_over(self) -> None:
        self._timer = None
        call = self._calls[0]
        if call.decision is not None:
            self._begin(call, call.decision)
        self._pump()

    def _forward(self, call: Call) -> None:
        upstream = self._upstream
        if upstream is None:
            if call.replied:
                # Answered early by an upstream that then closed: the rest has nowhere to go.
                self._drop_pending(call)
            elif self._connecting is None:
                self._connecting = self._loop.create_task(self._connect())
            return
        if not call.replied and upstream.call is not call:
            upstream.expect(call)
        pending = call.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            call.pending = []
            self._unhold(len(data))
            upstream.write(data)

    def _drop_pending(self, call: Call) -> None:
        if call.pending:
            self._unhold(sum(map(len, call.pending)))
            call.pending = []

    def _answer_locally(self, call: Call) -> None:
        decision = call.decision
        if decision is None:  # pragma: no cover - a call is decided before it is answered
            return
        if decision.malformed is not None:
            self._break(decision.malformed)
            return
        if decision.answer is None:  # pragma: no cover - _begin routed it here for one
            return
        call.stage = SENDING
        payload, head = answer_bytes(decision.answer, head=call.head, keep=not call.closes)
        self._send(call, decision.answer.status, payload, head)

    def _send(self, call: Call, status: int, payload: bytes, head: int) -> None:
        """Write an answer the fault layer holds whole, shaped as the call's decision says."""
        decision = call.decision
        if call.tag >= 0 and call.retry_after is None and status in _SHEDDING:
            call.retry_after = retry_after_in(payload[:head])
        if decision is None or (decision.slow_body is None and decision.bytes_per_s is None):
            self.relay(payload)
            self._counters.answered(status)
            call.responded = True
            if call.tag >= 0:
                self._note(call, status)
            return
        plan = release_plan(payload, head, decision.slow_body, decision.bytes_per_s)

        def sent() -> None:
            self._pacer = None
            self._counters.answered(status)
            call.responded = True
            if call.tag >= 0:
                self._note(call, status)
            self._pump()

        self._pacer = Pacer(self._loop, plan, self.relay, sent)
        self._pacer.start()

    def _break(self, kind: str) -> None:
        """The connection-level malformed answers: close with nothing, a cut answer, garbage
        or a reset."""
        self._counters.answered(MALFORMED)
        if self._calls and self._calls[0].tag >= 0:
            self._note(self._calls[0], MALFORMED)
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
            _, upstream = await self._loop.create_connection(lambda: UpstreamSide(self), host, port)
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

    def answered(self, call: Call, status: int, keep: bool, held: bytes | None) -> None:
        """The upstream answered ``call`` in full: relayed already, or ``held`` for shaping."""
        call.replied = True
        if not keep:
            call.closes = True
            self._forget_upstream()
        if held is None:
            statuses = self._counters.statuses
            statuses[status] = statuses.get(status, 0) + 1
            call.responded = True
            if call.tag >= 0:
                self._note(call, status)
        else:
            self._send(call, status, held, head_length(held))
        self._pump()

    def upstream_full(self, full: bool) -> None:
        self._upstream_full = full
        self._update_reading()

    def upstream_lost(self, upstream: UpstreamSide) -> None:
        """The upstream connection closed: idle, mid-answer, or before answering."""
        if upstream is not self._upstream:
            return
        self._forget_upstream()
        if self._tunnel:
            self.close()
            return
        call = upstream.call
        if call is None or self._closed:
            # An idle connection the upstream let go: the next call opens a new one.
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
            call.closes = call.replied = True
            if held is not None:
                self._send(call, upstream.status, held, head_length(held))
                call.complete = True
                self._pump()
                return
            self._counters.answered(upstream.status)
            if call.tag >= 0:
                self._note(call, upstream.status)
        else:
            if held is not None:
                self.relay(held)
            self._counters.answered(UPSTREAM_FAILED)
            if call.tag >= 0:
                self._note(call, UPSTREAM_FAILED)
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

    def _upstream_failed(self, call: Call, cause: str) -> None:
        """Nothing of an answer came: say so with a 502, then close."""
        self._counters.answered(UPSTREAM_FAILED)
        if call.tag >= 0:
            self._note(call, UPSTREAM_FAILED)
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

    # --- the ledger of a client under test ----------------------------------------------------

    def _note(self, call: Call, status: int | str) -> None:
        """One attempt of a logical call answered: when, how, and the wait it was told."""
        self._plane.ledger.add(call.tag, call.started, self._loop.time(), status, call.retry_after)

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
