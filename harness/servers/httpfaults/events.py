"""The bytes of a server-sent event stream, as every HTTP hop that breaks streams reads them:
lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (servers differ: sse-starlette writes
``\\r\\n``, most others ``\\n``), an event ends with a blank line, its data lines start
``data:`` (most servers add a space, which is not part of the data), and a stream in the OpenAI
style ends with the event ``data: [DONE]``. Read raw off
the wire, the body may be in HTTP/1.1 chunks: their framing is skipped, not read as lines.

Shared by the fault layer in front of the endpoint (which reads raw HTTP bytes) and the stubs
(which write events themselves), so both cut, spoil and end streams the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "DONE",
    "DONE_EVENT",
    "EventEnds",
    "EventSplitter",
    "data_event",
    "done_at",
    "done_may_start",
    "is_done",
    "is_event_stream",
    "spoil",
]

DONE = b"data: [DONE]"
DONE_EVENT = DONE + b"\n\n"
_DATA = b"data: "
# A data line's field name and the space that may follow it.
_DATA_FIELD = re.compile(rb"^data: ?", re.MULTILINE)
_DONE_LINE = re.compile(rb"data: ?\[DONE\]")
_DONE_SPELLINGS = (DONE, b"data:[DONE]")
_EVENT_STREAM = "text/event-stream"
_LINE_END = re.compile(rb"\r\n|\r|\n")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]+")


class EventEnds:
    """Where the events of one stream end, in its bytes as they arrive however they are split:
    each end is the offset just past an event's blank line. Blank lines with no event before
    them (a stream's leading or doubled blank lines) end nothing.

    ``chunked``: the bytes are a raw HTTP/1.1 body in chunks, whose size lines and closing
    ``\\r\\n`` are framing, never lines of events; the framing after an event's blank line
    belongs to what follows it. A chunk size that does not parse ends the decoding: the rest
    is read as it comes.
    """

    def __init__(self, *, chunked: bool = False) -> None:
        # Chunk decoding: "size" reads a size line, "data" a chunk's bytes (``_left`` of them
        # to come), "crlf" the line end after them, "done" everything after the last chunk.
        self._state = "size" if chunked else "raw"
        self._left = 0
        self._size = b""
        # Line reading: whether the event under way has a line with anything in it, whether
        # the line under way has anything in it yet, and what a ``\\r`` that was the last byte
        # read ended ("line" or "event"): a ``\\n`` next is the same line end, so an event it
        # ended ends past that ``\\n`` (or before whatever else comes).
        self.open = False
        self._line = False
        self._cr: str | None = None

    def feed(self, data: bytes, limit: int | None = None) -> list[int]:
        """The offsets in ``data`` where events end, in order. With ``limit``, reading stops
        at the ``limit``-th end, so what follows it is still unread: hand it to :meth:`feed`
        again (or to an :class:`EventSplitter` built on this reader)."""
        ends: list[int] = []
        at = 0
        while at < len(data) and (limit is None or len(ends) < limit):
            state = self._state
            if state == "raw":
                at = self._lines(data, at, len(data), ends, limit)
            elif state == "data":
                stop = min(len(data), at + self._left)
                done = self._lines(data, at, stop, ends, limit)
                self._left -= done - at
                at = done
                if not self._left:
                    self._state = "crlf"
            elif state == "size":
                newline = data.find(b"\n", at)
                if newline < 0:
                    self._size += data[at:]
                    at = len(data)
                    continue
                line, self._size = self._size + data[at:newline], b""
                at = newline + 1
                size = _CHUNK_SIZE.match(line.strip())
                if size is None:
                    self._state = "raw"
                else:
                    self._left = int(size.group(), 16)
                    self._state = "data" if self._left else "done"
            elif state == "crlf":
                newline = data.find(b"\n", at)
                at = len(data) if newline < 0 else newline + 1
                if newline >= 0:
                    self._state = "size"
            else:
                at = len(data)
        return ends

    def _lines(self, data: bytes, at: int, stop: int, ends: list[int], limit: int | None) -> int:
        """Reads the lines of ``data[at:stop]`` (event bytes, no framing) and appends the ends
        of events found; returns where it stopped (``stop``, or just past the last end when
        ``limit`` was reached)."""
        if self._cr is not None:
            ended, self._cr = self._cr == "event", None
            if data[at : at + 1] == b"\n":
                at += 1
            if ended:
                ends.append(at)
                if limit is not None and len(ends) >= limit:
                    return at
        for found in _LINE_END.finditer(data, at, stop):
            if found.start() > at:
                self._line = self.open = True
            at = found.end()
            ended = self.open and not self._line
            self._line = False
            if ended:
                # A blank line: the event ends.
                self.open = False
            if at == stop and found.group() == b"\r":
                # Whether a \n comes next is for the next bytes to say.
                self._cr = "event" if ended else "line"
                return stop
            if ended:
                ends.append(at)
                if limit is not None and len(ends) >= limit:
                    return at
        if at < stop:
            self._line = self.open = True
        return stop


class EventSplitter:
    """Bytes cut into whole events, each up to and including its blank line. Bytes after the
    last whole event wait for the next read; :meth:`framing` gives them up when they carry no
    event (the chunk framing that ends a raw answer), :meth:`remainder` whatever they hold (the
    end of a decoded body). ``ends`` reads where events end (a decoded body's, by default); a
    reader that stopped part way through a raw answer carries on from where it stopped."""

    def __init__(self, ends: EventEnds | None = None) -> None:
        self._ends = EventEnds() if ends is None else ends
        self._pending = b""

    def events(self, data: bytes) -> list[bytes]:
        offsets = self._ends.feed(data)
        data, start, found = self._pending + data, 0, []
        for offset in offsets:
            end = len(self._pending) + offset
            found.append(data[start:end])
            start = end
        self._pending = data[start:]
        return found

    def framing(self) -> bytes:
        """The bytes waiting, when they hold no part of an event (else nothing)."""
        if not self._pending or self._ends.open:
            return b""
        found, self._pending = self._pending, b""
        return found

    def remainder(self) -> bytes:
        """The bytes waiting, whatever they hold; nothing waits afterwards."""
        found, self._pending = self._pending, b""
        return found


def spoil(event: bytes) -> bytes:
    """``event`` with the first byte of its data replaced, so it no longer parses; its length,
    and so any chunk framing around it, stays the same."""
    field = _DATA_FIELD.search(event)
    if field is None or field.end() >= len(event) or event[field.end()] in b"\r\n":
        return event
    at = field.end()
    return event[:at] + b"!" + event[at + 1 :]


def data_event(text: str) -> bytes:
    """One event carrying ``text``: a ``data:`` line per line of it, then the blank line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return b"".join(_DATA + line.encode() + b"\n" for line in lines) + b"\n"


def is_done(event: bytes) -> bool:
    """Whether ``event`` is the ``data: [DONE]`` that ends an OpenAI-style stream."""
    return _DONE_LINE.fullmatch(event.strip()) is not None


def done_at(data: bytes) -> int:
    """Where in ``data`` a ``data: [DONE]`` (or ``data:[DONE]``) begins, or -1."""
    found = _DONE_LINE.search(data)
    return -1 if found is None else found.start()


def done_may_start(data: bytes) -> int:
    """How many of the last bytes of ``data`` may be the beginning of a ``data: [DONE]``: what
    the next bytes decide."""
    for size in range(min(len(DONE) - 1, len(data)), 0, -1):
        if any(spelling.startswith(data[-size:]) for spelling in _DONE_SPELLINGS):
            return size
    return 0


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether an answer's headers (a case-insensitive mapping) say server-sent events."""
    return _EVENT_STREAM in headers.get("Content-Type", "").lower()
