"""Streamed answers broken part way, as a stream fault says: where, in the raw bytes the
upstream sends, the events of a server-sent event stream end, and so where a stall, a cut, a
missing end, a slowdown or a spoilt event begins. (The bytes after that are cut into whole
events, to let out one at a time or to spoil one, by ``httpfaults.events``, which the stubs
share.)

Events end with a blank line, whichever line ends the server writes; under chunked framing the
chunks' size lines are skipped (``httpfaults.events.EventEnds``). An answer whose head does not
say ``text/event-stream`` passes untouched.
"""

from __future__ import annotations

import re

from faults.http import StreamFault
from harness.servers.httpfaults.events import EventEnds, EventSplitter, done_at, done_may_start

__all__ = ["StreamBreaker"]

_HEAD_END = b"\r\n\r\n"
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)


class StreamBreaker:
    """Splits the bytes of one answer into what goes out now and, once the fault trips, the
    rest it acts on."""

    def __init__(self, fault: StreamFault) -> None:
        self.fault = fault
        self.tripped = False
        # None until the head is read: then whether the answer is an event stream.
        self._stream: bool | None = None
        self._head = b""
        self._events = 0
        self._ends = EventEnds()
        # The last bytes seen, so a ``data: [DONE]`` split across two reads is still found.
        self._tail = b""

    def split(self, data: bytes) -> tuple[bytes, bytes]:
        """``(out, rest)``: ``rest`` is empty until the fault trips, and all of it after."""
        if self.tripped:
            return b"", data
        if self._stream is None:
            self._head += data
            end = self._head.find(_HEAD_END)
            if end < 0:
                return data, b""
            head, body = self._head[: end + 4], self._head[end + 4 :]
            self._stream = b"text/event-stream" in head.lower()
            self._ends = EventEnds(chunked=_CHUNKED.search(head) is not None)
            self._head = b""
            if not self._stream:
                return data, b""
            # What of ``data`` was head goes out whatever the body does.
            before = len(data) - len(body)
            out, rest = self._body(body)
            return data[:before] + out, rest
        if not self._stream:
            return data, b""
        return self._body(data)

    def _body(self, data: bytes) -> tuple[bytes, bytes]:
        if self.fault.action == "no_done":
            return self._before_done(data)
        at = self._after_events(data)
        if at is None:
            return data, b""
        self.tripped = True
        return data[:at], data[at:]

    def splitter(self) -> EventSplitter:
        """Cuts the rest into whole events, reading on from where the fault tripped."""
        return EventSplitter(self._ends)

    def _before_done(self, data: bytes) -> tuple[bytes, bytes]:
        """Everything before ``data: [DONE]``; bytes that may be its beginning are held back
        until the next read says."""
        data, self._tail = self._tail + data, b""
        found = done_at(data)
        if found >= 0:
            self.tripped = True
            return data[:found], data[found:]
        held = done_may_start(data)
        if held:
            self._tail = data[-held:]
            return data[:-held], b""
        return data, b""

    def _after_events(self, data: bytes) -> int | None:
        """Where in ``data`` the ``after_events``-th event ends, or None when not in it."""
        wanted = self.fault.after_events - self._events
        if wanted <= 0:
            return 0
        ends = self._ends.feed(data, limit=wanted)
        self._events += len(ends)
        return ends[-1] if len(ends) == wanted else None
