"""libcurl's multi socket interface on an epoll set: the event loop under the curl engine.

libcurl says which sockets it wants watched (``M_SOCKETFUNCTION``) and when its next timeout
falls (``M_TIMERFUNCTION``); ``socket_action`` is then called only for sockets that are ready.
The cost of a wake-up follows the transfers that moved, where ``perform`` walks every transfer
in flight on every call.

Easy handles are created once and reused; the multi handle keeps their connections alive in its
pool, so a steady run opens about as many connections as it has requests in flight.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from harness.loadgen.engine import Sink, Target
from harness.loadgen.payloads import FixedBody
from harness.loadgen.poller import Poller

__all__ = ["CurlLoop", "Transfer"]

# libcurl error numbers the report names; the rest are reported as "curl_<n>".
_FAILURES = {28: "timeout", 7: "connection", 52: "connection", 55: "connection", 56: "connection"}
_EPOLL_IN, _EPOLL_OUT = select.EPOLLIN, select.EPOLLOUT
_EPOLL_BAD = select.EPOLLERR | select.EPOLLHUP
# One wake-up hands at most this many ready sockets to libcurl before waiting again.
_MAX_EVENTS = 256


class Transfer:
    """One reusable easy handle and the request it currently carries."""

    __slots__ = ("chunks", "handle", "intended", "sent", "size")

    def __init__(self, handle: Any, size: int) -> None:
        self.handle = handle
        # The response body arrives through ``chunks.append``: a C method, no Python frame.
        self.chunks: list[bytes] = []
        self.intended = 0.0
        self.sent = 0.0
        # Bytes of the request body: fixed unless the target's bodies vary.
        self.size = size


def _curl_flags(pycurl: Any) -> list[int]:
    """libcurl's CSELECT bits for each epoll event mask (IN, PRI, OUT, ERR, HUP bits)."""
    flags = []
    for mask in range(32):
        bits = pycurl.CSELECT_IN if mask & _EPOLL_IN else 0
        bits |= pycurl.CSELECT_OUT if mask & _EPOLL_OUT else 0
        bits |= pycurl.CSELECT_ERR if mask & _EPOLL_BAD else 0
        flags.append(bits)
    return flags


class CurlLoop:
    """A pool of easy handles on one multi handle, reporting each completion to ``sink``."""

    def __init__(self, pycurl: Any, target: Target, sink: Sink, t0: float) -> None:
        self._pycurl = pycurl
        self._target = target
        self._sink = sink
        self._t0 = t0
        self._timeout_fd = pycurl.SOCKET_TIMEOUT
        self._response_code = pycurl.RESPONSE_CODE
        self._flags = _curl_flags(pycurl)
        self._poller = Poller()
        self._epoll = self._poller.epoll
        # Sockets registered with epoll and their masks. libcurl drops a connection's socket
        # between requests; it stays registered (as ``idle``), so a request on a kept-alive
        # connection costs one epoll_ctl call instead of two.
        self._watched: dict[int, int] = {}
        self._idle: set[int] = set()
        self._masks = {
            pycurl.POLL_IN: _EPOLL_IN,
            pycurl.POLL_OUT: _EPOLL_OUT,
            pycurl.POLL_INOUT: _EPOLL_IN | _EPOLL_OUT,
        }
        self._remove = pycurl.POLL_REMOVE
        # libcurl's timer requests, kept by a C method (no Python frame per call) and turned
        # into a deadline on the next wait: only the latest one counts.
        self._timer_ms: deque[int] = deque(maxlen=1)
        self.timer_at: float | None = None
        self.inflight = 0
        # Set by a schedule with requests waiting for a handle: the next completion wakes it.
        self.blocked = False
        self._released = False
        # A fixed body is given to each handle once, not copied into it for every request.
        self._body = None if isinstance(target.body, FixedBody) else target.body
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._timer_ms.append)
        self.multi.setopt(pycurl.M_MAXCONNECTS, target.max_connections)
        self.multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, target.max_connections)
        self._all = [self._transfer() for _ in range(target.max_connections)]
        self.free = list(self._all)

    @property
    def capacity(self) -> int:
        return len(self._all)

    @property
    def can_start(self) -> bool:
        return bool(self.free)

    def prepare(self, connections: int) -> None:
        """libcurl opens connections as requests need them."""

    def _transfer(self) -> Transfer:
        pycurl, target = self._pycurl, self._target
        handle = pycurl.Curl()
        fixed = target.body if isinstance(target.body, FixedBody) else None
        transfer = Transfer(handle, len(fixed.data) if fixed is not None else 0)
        handle.transfer = transfer
        handle.setopt(pycurl.URL, target.url)
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.TIMEOUT_MS, int(target.timeout_s * 1000))
        handle.setopt(pycurl.HTTPHEADER, [f"Content-Type: {target.content_type}", "Expect:"])
        handle.setopt(pycurl.WRITEFUNCTION, transfer.chunks.append)
        if target.method == "HEAD":
            handle.setopt(pycurl.NOBODY, 1)
        elif target.method != "GET":
            handle.setopt(pycurl.CUSTOMREQUEST, target.method)
        if fixed is not None and fixed.data:
            handle.setopt(pycurl.POSTFIELDS, fixed.data)
        return transfer

    def start(self, index: int, intended: float) -> float:
        """Send request ``index`` on a free handle now, written before this returns unless its
        connection is still opening; the send time, in monotonic seconds."""
        transfer = self.free.pop()
        handle = transfer.handle
        if self._body is not None:
            body = self._body(index)
            handle.setopt(self._pycurl.POSTFIELDS, body)
            transfer.size = len(body)
        transfer.intended = intended
        transfer.sent = sent = time.monotonic()
        self.multi.add_handle(handle)
        self.inflight += 1
        # Run libcurl's zero timeout from add_handle at once rather than batching it, so the
        # recorded send time is this request's and not the start of a batch.
        self._act(self._timeout_fd, 0)
        return sent

    def serve(self, until: float, due: float, send_due: Callable[[], float]) -> float:
        """Serve sockets and libcurl's timers for one wake-up, waiting at most until ``until``
        or ``due``. ``send_due`` runs whenever ``due`` passes (between any two answers, so a
        burst of them cannot hold up the schedule) and after a completion while ``blocked``;
        it returns the next due time, and so does this."""
        now = time.monotonic()
        if self._timer_ms:
            timeout_ms = self._timer_ms.pop()
            self.timer_at = None if timeout_ms < 0 else now + timeout_ms / 1000.0
        timer_at = self.timer_at
        wake = min(until, due) if timer_at is None else min(until, due, timer_at)
        idle, flags = self._idle, self._flags
        for fd, mask in self._poller.wait(wake - now, _MAX_EVENTS):
            if fd in idle:
                self._forget(fd)
                continue
            self._act(fd, flags[mask & 31])
            if time.monotonic() >= due or (self._released and self.blocked):
                self._released = False
                due = send_due()
        if self._timer_ms:
            timeout_ms = self._timer_ms.pop()
            self.timer_at = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000.0
        if self.timer_at is not None and time.monotonic() >= self.timer_at:
            self.timer_at = None
            self._act(self._timeout_fd, 0)
        if time.monotonic() >= due or (self._released and self.blocked):
            self._released = False
            due = send_due()
        return due

    def _act(self, fd: int, flags: int) -> None:
        running = self.multi.socket_action(fd, flags)[1]
        # Fewer running than in flight means some finished: only then is info_read worth a call.
        if running < self.inflight:
            self._reap()

    def _reap(self) -> None:
        multi, sink, t0, outcome = self.multi, self._sink, self._t0, self._target.outcome
        done = time.monotonic() - t0
        while True:
            queued, ok, failed = multi.info_read()
            for handle in ok:
                transfer: Transfer = handle.transfer
                chunks = transfer.chunks
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                status, failure = outcome(handle.getinfo(self._response_code), body)
                self._release(transfer)
                sink.completed(
                    transfer.intended - t0,
                    transfer.sent - t0,
                    done,
                    status=status,
                    failure=failure,
                    request_bytes=transfer.size,
                    response_bytes=len(body),
                )
            for handle, errno, _ in failed:
                transfer = handle.transfer
                transfer.chunks.clear()
                self._release(transfer)
                failure = _FAILURES.get(errno, f"curl_{errno}")
                sink.completed(
                    transfer.intended - t0,
                    transfer.sent - t0,
                    done,
                    status=None,
                    failure=failure,
                    request_bytes=transfer.size,
                )
            if not queued:
                return

    def _release(self, transfer: Transfer) -> None:
        self.multi.remove_handle(transfer.handle)
        self.inflight -= 1
        self.free.append(transfer)
        self._released = True

    def _on_socket(self, what: int, fd: int, multi: Any, socketp: Any) -> None:
        watched, epoll = self._watched, self._epoll
        if what == self._remove:
            if fd in watched:
                self._idle.add(fd)
            return
        mask = self._masks[what]
        if fd in self._idle:
            self._idle.discard(fd)
        elif watched.get(fd) == mask:
            return
        watched[fd] = mask
        # The socket may have been closed while idle and its number reused; epoll forgot the
        # closed one by itself, so try modify first and register when it is unknown.
        try:
            epoll.modify(fd, mask)
        except FileNotFoundError:
            epoll.register(fd, mask)

    def _forget(self, fd: int) -> None:
        # An idle connection became readable (the server closed it): stop watching, or the
        # level-triggered epoll would report it on every wait. libcurl notices on reuse.
        self._idle.discard(fd)
        if self._watched.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def close(self) -> None:
        for transfer in self._all:
            if transfer not in self.free:
                self.multi.remove_handle(transfer.handle)
        self.multi.close()
        for transfer in self._all:
            transfer.handle.close()
        self._poller.close()
