"""The http1 engine: HTTP/1.1 on non-blocking sockets and one epoll set, the generator's fastest.

Each connection carries one request at a time (no pipelining) and is kept alive for the next;
answers are parsed by httptools (llhttp, the parser inside Node.js). A request costs one send,
a recv or two and a parse, which is a fraction of what a general client's bindings spend, so
one worker keeps tens of thousands of requests per second on schedule. Plain ``http://`` only:
``https://`` targets take the curl or aiohttp engine.

Failures are named like the other engines': ``timeout`` (no full answer within the target's
timeout, counted from the send), ``connection`` (refused, reset or closed before a full answer)
and ``protocol`` (an answer that is not HTTP/1.x). A request whose kept-alive connection turns
out to have been closed by the server before any answer is sent again once on a new connection,
as browsers and libcurl do, so an idle timeout on the server is not reported as an error.

A target that streams (server-sent events) has each 2xx body fed to a
:class:`~harness.loadgen.streams.StreamReader` piece by piece as the parser hands it over, so
every token event is timed on arrival and nothing of the body is kept; a 2xx stream that ends
without ``[DONE]`` or a final event is ``stream_cut``, as on the aiohttp engine.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httptools

from harness.errors import UsageError
from harness.loadgen.engine import Sink, Target, stream_recording
from harness.loadgen.payloads import FixedBody
from harness.loadgen.poller import Poller
from harness.loadgen.streams import StreamBuffer, StreamReader, StreamTimes

__all__ = ["BODY_METHODS", "Http1Loop", "reachable_address", "request_start", "resolve"]

_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_READABLE = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
_MAX_EVENTS = 256
# Answers are read into one reused buffer: a fresh bytes object this large per recv would cost
# an mmap and munmap each time.
_RECV_BYTES = 64 * 1024
# Timeouts are checked this often; a timed-out request is reported at most this late.
_EXPIRY_EVERY_S = 0.005
# Streams' timings are recorded this many at a time, or at least this often.
_STREAM_BATCH = 512
_STREAMS_EVERY_S = 0.05
# Methods whose requests always carry a Content-Length, even for an empty body.
BODY_METHODS = ("POST", "PUT", "PATCH")


class _Request:
    """How requests are written: the fixed part once, the body per request when it varies;
    each with the size of its body."""

    def __init__(self, target: Target) -> None:
        self.family, self.address = resolve(target)
        self.head = target.method == "HEAD"
        self._start = request_start(target)
        self._typed = f"Content-Type: {target.content_type}\r\n".encode()
        self._always_length = target.method in BODY_METHODS
        self._body = target.body
        fixed = target.body if isinstance(target.body, FixedBody) else None
        self.fixed = None if fixed is None else (self._build(fixed.data), len(fixed.data))

    def __call__(self, index: int) -> tuple[bytes, int]:
        """Request ``index`` as written on the wire, and the bytes of its body."""
        if self.fixed is not None:
            return self.fixed
        body = self._body(index)
        return self._build(body), len(body)

    def _build(self, body: bytes) -> bytes:
        if not body and not self._always_length:
            return self._start + b"\r\n"
        length = f"Content-Length: {len(body)}\r\n\r\n".encode()
        return self._start + (self._typed if body else b"") + length + body


def resolve(target: Target) -> tuple[socket.AddressFamily, Any]:
    """The address family and socket address requests to ``target`` go to (an http:// URL)."""
    url = urlsplit(target.url)
    if not url.hostname:
        raise UsageError(f"expected a host in the URL but got {target.url!r}")
    try:
        port = url.port or 80
        found = socket.getaddrinfo(url.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot resolve the host of {target.url!r}: {exc}") from exc
    return reachable_address(found)


def request_start(target: Target) -> bytes:
    """The request line and Host header every request to ``target`` begins with."""
    url = urlsplit(target.url)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return f"{target.method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode()


def reachable_address(found: list[tuple[Any, ...]]) -> tuple[socket.AddressFamily, Any]:
    """The first address that accepts a connection, as a client trying each in turn would
    (``localhost`` may name ::1 first while the server listens on 127.0.0.1 only); the first
    one when none does, so that requests fail as connection errors like on other engines."""
    if len(found) > 1:
        for family, _, _, _, address in found:
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1.0)
                    probe.connect(address)
            except OSError:
                continue
            return family, address
    return found[0][0], found[0][4]


class _Connection:
    """One socket, its parser, and the request it carries; also the parser's callbacks."""

    __slots__ = (
        "busy",
        "chunks",
        "complete",
        "connected",
        "data",
        "fd",
        "got",
        "head",
        "headers_done",
        "intended",
        "keep",
        "on_body",
        "out",
        "parser",
        "reader",
        "retried",
        "reused",
        "sent",
        "size",
        "sock",
        "stream",
        "streaming",
    )

    def __init__(self, sock: socket.socket, head: bool, stream: bool = False) -> None:
        self.sock, self.fd, self.head = sock, sock.fileno(), head
        self.chunks: list[bytes] = []
        # The body arrives through ``chunks.append``: a C method, no Python frame per chunk.
        # A streamed body goes to its reader instead, timed as each piece arrives.
        self.on_body: Callable[[bytes], None] = (
            self._streamed_body if stream else self.chunks.append
        )
        self.stream = stream
        self.streaming = False
        self.reader: StreamReader | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = self.connected = self.reused = self.retried = False
        self.got = self.headers_done = self.complete = self.keep = False
        self.intended = self.sent = 0.0
        self.size = 0
        self.data = self.out = b""

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # Asked here: llhttp forgets it once the message is complete.
        self.keep = self.parser.should_keep_alive()
        # Only a 2xx is read as a stream; any other answer is kept whole, as its error body.
        self.streaming = self.reader is not None and 200 <= self.parser.get_status_code() < 300
        # An answer to HEAD has no body whatever its Content-Length says.
        if self.head:
            self.complete = True

    def on_message_complete(self) -> None:
        self.complete = True

    def _streamed_body(self, data: bytes) -> None:
        reader = self.reader
        if self.streaming and reader is not None:
            reader.feed(data, time.monotonic())
        else:
            self.chunks.append(data)

    def carry(self, data: bytes, size: int, intended: float, sent: float) -> None:
        self.busy, self.data, self.intended, self.sent = True, data, intended, sent
        self.size = size
        self.got = self.headers_done = self.complete = self.retried = False
        self.streaming = False
        self.reader = StreamReader(intended) if self.stream else None


class Http1Loop:
    """Connections to one target on an epoll set, reporting each answer to ``sink``."""

    def __init__(self, target: Target, sink: Sink, t0: float) -> None:
        self._request = _Request(target)
        self._sink, self._t0, self._target = sink, t0, target
        self._streams_to = stream_recording(sink) if target.stream else None
        self._streams = StreamBuffer()
        self._next_streams = 0.0
        self._timeout = target.timeout_s
        self._limit = target.max_connections
        self._poller = Poller()
        self._epoll = self._poller.epoll
        self._conns: dict[int, _Connection] = {}
        # Kept-alive connections, the most recently used last: reusing it keeps the set of
        # connections in use small and warm.
        self._idle: list[_Connection] = []
        self._next_expiry = 0.0
        self._released = False
        self._buffer = bytearray(_RECV_BYTES)
        self._view = memoryview(self._buffer)
        self.inflight = 0
        self.blocked = False

    @property
    def capacity(self) -> int:
        return self._limit

    @property
    def can_start(self) -> bool:
        return bool(self._idle) or len(self._conns) < self._limit

    def prepare(self, connections: int) -> None:
        """Open ``connections`` before the first request, so the first second of a run does not
        pay for handshakes that a steady run never makes."""
        for _ in range(min(connections, self._limit) - len(self._conns)):
            self._idle.append(self._open())

    def start(self, index: int, intended: float) -> float:
        """Send request ``index`` on a kept-alive connection or a new one; its send time."""
        data, size = self._request(index)
        conn = self._idle.pop() if self._idle else self._open()
        self.inflight += 1
        sent = time.monotonic()
        conn.carry(data, size, intended, sent)
        if conn.connected:
            self._write(conn, data)
        else:
            conn.out = data
        return sent

    def serve(self, until: float, due: float, send_due: Callable[[], float]) -> float:
        """Serve sockets for one wake-up, waiting at most until ``until``, ``due`` or the next
        timeout check; ``send_due`` runs whenever ``due`` passes (between any two answers) and
        after an answer frees a connection while the schedule is ``blocked``."""
        now = time.monotonic()
        wake = min(until, due, self._next_expiry) if self.inflight else min(until, due)
        conns = self._conns
        for fd, events in self._poller.wait(wake - now, _MAX_EVENTS):
            conn = conns.get(fd)
            if conn is None:
                continue
            if events & _OUT:
                self._writable(conn)
            if events & _READABLE and conns.get(fd) is conn:
                self._readable(conn)
            if time.monotonic() >= due or (self._released and self.blocked):
                self._released = False
                due = send_due()
        now = time.monotonic()
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRY_EVERY_S
            self._expire(now)
            if now >= self._next_streams:
                self._next_streams = now + _STREAMS_EVERY_S
                self._flush_streams()
        if time.monotonic() >= due or (self._released and self.blocked):
            self._released = False
            due = send_due()
        return due

    # --- connections ---------------------------------------------------------------------------

    def _open(self) -> _Connection:
        request = self._request
        sock = socket.socket(request.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, request.head, self._streams_to is not None)
        self._conns[conn.fd] = conn
        failed = sock.connect_ex(request.address)
        if failed == 0:
            conn.connected = True
            self._epoll.register(conn.fd, _IN)
        elif failed == errno.EINPROGRESS:
            self._epoll.register(conn.fd, _IN | _OUT)
        else:
            # Refused at once (loopback does that): report it on the next wake-up, as a
            # socket error, so the request still goes through start's bookkeeping first.
            self._epoll.register(conn.fd, _IN | _OUT)
        return conn

    def _close(self, conn: _Connection) -> None:
        if self._conns.pop(conn.fd, None) is None:
            return
        if not conn.busy and conn in self._idle:
            self._idle.remove(conn)
        # Closing the socket also takes it out of the epoll set.
        conn.sock.close()

    def _write(self, conn: _Connection, data: bytes) -> None:
        try:
            written = conn.sock.send(data)
        except BlockingIOError:
            written = 0
        except OSError:
            self._broken(conn)
            return
        if written < len(data):
            conn.out = data[written:]
            self._epoll.modify(conn.fd, _IN | _OUT)
        else:
            conn.out = b""

    def _writable(self, conn: _Connection) -> None:
        if not conn.connected:
            if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                if conn.busy:
                    self._fail(conn, "connection")
                else:
                    self._close(conn)
                return
            conn.connected = True
        if conn.out:
            self._write(conn, conn.out)
        if not conn.out and self._conns.get(conn.fd) is conn:
            self._epoll.modify(conn.fd, _IN)

    def _readable(self, conn: _Connection) -> None:
        try:
            received = conn.sock.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError:
            received = 0
        if not conn.busy:
            # An idle connection the server closed (or, against the protocol, spoke on).
            self._close(conn)
            return
        if not received:
            self._broken(conn)
            return
        conn.got = True
        try:
            conn.parser.feed_data(self._view[:received])
        except httptools.HttpParserError:
            self._fail(conn, "protocol")
            return
        if conn.complete:
            self._answered(conn, conn.keep)

    def _broken(self, conn: _Connection) -> None:
        """The connection ended before a full answer."""
        if not conn.got and conn.reused and not conn.retried:
            self._retry(conn)
        elif conn.headers_done and not conn.keep:
            # An answer without a length ends when the server closes the connection.
            self._answered(conn, keep=False)
        else:
            self._fail(conn, "connection")

    def _retry(self, conn: _Connection) -> None:
        fresh = self._open()
        self._close(conn)
        fresh.carry(conn.data, conn.size, conn.intended, time.monotonic())
        fresh.retried = True
        if fresh.connected:
            self._write(fresh, conn.data)
        else:
            fresh.out = conn.data

    def _expire(self, now: float) -> None:
        late = now - self._timeout
        for conn in [c for c in self._conns.values() if c.busy and c.sent <= late]:
            self._fail(conn, "timeout")

    # --- outcomes ------------------------------------------------------------------------------

    def _answered(self, conn: _Connection, keep: bool) -> None:
        chunks = conn.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        status, failure = self._target.outcome(conn.parser.get_status_code(), body)
        if conn.head:
            # Its parser still waits for the body a HEAD answer never has: start afresh.
            conn.parser = httptools.HttpResponseParser(conn)
        received = len(body)
        if conn.reader is not None:
            status, failure, received = self._stream_ended(conn, conn.reader, body, status, failure)
        self._done(conn, status, failure, received)
        if keep:
            conn.reused = True
            self._idle.append(conn)
        else:
            self._close(conn)

    def _stream_ended(
        self,
        conn: _Connection,
        reader: StreamReader,
        body: bytes,
        status: int | None,
        failure: str | None,
    ) -> tuple[int | None, str | None, int]:
        """Record how a streamed answer's tokens came; its outcome, with a 2xx that ended
        without [DONE] or a final event turned into ``stream_cut``, and its body's bytes."""
        if not conn.streaming:
            # Read whole, as its error body: the aiohttp engine times it the same way.
            reader.feed(body, time.monotonic())
        times = reader.times()
        if status is not None and 200 <= status < 300 and not times.complete:
            status, failure = None, "stream_cut"
        good = status is not None and status < 400 and self._target.slo.met(times)
        self._stream_record(conn, times, good)
        return status, failure, reader.bytes

    def _stream_record(self, conn: _Connection, times: StreamTimes, good: bool) -> None:
        conn.reader = None
        self._streams.add(conn.intended - self._t0, times, good)
        if len(self._streams) >= _STREAM_BATCH:
            self._flush_streams()

    def _flush_streams(self) -> None:
        if self._streams_to is not None and len(self._streams):
            self._streams_to(*self._streams.take())

    def _fail(self, conn: _Connection, failure: str) -> None:
        conn.chunks.clear()
        if conn.reader is not None:
            self._stream_record(conn, conn.reader.times(), good=False)
        self._done(conn, None, failure, None)
        self._close(conn)

    def _done(
        self, conn: _Connection, status: int | None, failure: str | None, received: int | None
    ) -> None:
        done = time.monotonic()
        conn.busy = False
        self.inflight -= 1
        self._released = True
        t0 = self._t0
        self._sink.completed(
            conn.intended - t0,
            conn.sent - t0,
            done - t0,
            status=status,
            failure=failure,
            request_bytes=conn.size,
            response_bytes=received,
        )

    def close(self) -> None:
        self._flush_streams()
        for conn in list(self._conns.values()):
            conn.sock.close()
        self._conns.clear()
        self._idle.clear()
        self._poller.close()
