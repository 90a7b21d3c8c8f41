"""A stream fault applied to a stream of whole events, event by event: which event goes out
when, which is spoilt, where the connection is cut and where the stream is held open with no
end. Pure bookkeeping on a caller's clock; a stub's :class:`~.event_stream.EventStream` carries
the steps out.

It counts events as the fault layer in front of the endpoint counts them in raw bytes (every
event, ``data: [DONE]`` included), so one fault does the same on either hop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from faults.http import StreamFault
from harness.servers.httpfaults.events import is_done, spoil

__all__ = ["EventBreaker", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """What becomes of one event: ``send`` it (as ``event``, which may be spoilt) not before
    the monotonic time ``not_before``; or ``cut`` the connection instead; or ``hold`` it open
    with nothing more sent, until the client gives up."""

    what: Literal["send", "cut", "hold"]
    event: bytes = b""
    not_before: float = 0.0


_CUT = Step("cut")
_HOLD = Step("hold")


class EventBreaker:
    """Decides each event of one stream, in order, as ``fault`` says; it changes as events go
    by (how many went out, when the last one did)."""

    def __init__(self, fault: StreamFault) -> None:
        self.fault = fault
        self.tripped = False
        self._sent = 0
        self._last: float | None = None

    def step(self, event: bytes, now: float) -> Step:
        """The step for ``event``, the next of the stream, which is ready at ``now``."""
        fault = self.fault
        if fault.action == "no_done":
            if is_done(event):
                self.tripped = True
                return _HOLD
            return self._send(event, now)
        if self._sent < fault.after_events:
            return self._send(event, now)
        first, self.tripped = not self.tripped, True
        if fault.action == "cut":
            return _CUT
        if fault.action == "stall":
            return self._send(event, now + fault.stall_ms / 1000.0 if first else now)
        if fault.action == "malformed":
            return self._send(spoil(event) if first else event, now)
        every_s = 1.0 / fault.events_per_s
        return self._send(event, now if self._last is None else max(now, self._last + every_s))

    def _send(self, event: bytes, at: float) -> Step:
        self._sent += 1
        self._last = at
        return Step("send", event, at)
