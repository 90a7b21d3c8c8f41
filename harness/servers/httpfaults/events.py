"""The bytes of a server-sent event stream, as every HTTP hop that breaks streams reads them:
events end with a blank line (``\\n\\n``), their data lines start ``data: ``, and a stream in
the OpenAI style ends with the event ``data: [DONE]``.

Shared by the fault layer in front of the endpoint (which reads raw HTTP bytes) and the stubs
(which write events themselves), so both cut, spoil and end streams the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DONE",
    "DONE_EVENT",
    "EVENT_END",
    "EventSplitter",
    "data_event",
    "is_done",
    "is_event_stream",
    "spoil",
]

EVENT_END = b"\n\n"
DONE = b"data: [DONE]"
DONE_EVENT = DONE + EVENT_END
_DATA = b"data: "
_EVENT_STREAM = "text/event-stream"


class EventSplitter:
    """Bytes cut into whole events, each up to and including its blank line. Bytes after the
    last whole event wait for the next read; :meth:`framing` gives them up when they carry no
    event data at all (the chunk framing that ends a raw answer), :meth:`remainder` whatever
    they hold (the end of a decoded body)."""

    def __init__(self) -> None:
        self._pending = b""

    def events(self, data: bytes) -> list[bytes]:
        data, start, found = self._pending + data, 0, []
        while (end := data.find(EVENT_END, start)) >= 0:
            found.append(data[start : end + len(EVENT_END)])
            start = end + len(EVENT_END)
        self._pending = data[start:]
        return found

    def framing(self) -> bytes:
        """The bytes waiting, when they hold no event data (else nothing)."""
        if not self._pending or _DATA in self._pending:
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
    at = event.find(_DATA)
    if at < 0 or at + len(_DATA) >= len(event):
        return event
    at += len(_DATA)
    return event[:at] + b"!" + event[at + 1 :]


def data_event(text: str) -> bytes:
    """One event carrying ``text``: a ``data:`` line per line of it, then the blank line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return b"".join(_DATA + line.encode() + b"\n" for line in lines) + b"\n"


def is_done(event: bytes) -> bool:
    """Whether ``event`` is the ``data: [DONE]`` that ends an OpenAI-style stream."""
    return event.strip() == DONE


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether an answer's headers (a case-insensitive mapping) say server-sent events."""
    return _EVENT_STREAM in headers.get("Content-Type", "").lower()
