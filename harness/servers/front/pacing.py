"""Time in the data plane: timers that never fire early, and answers released piece by piece
(a slow body's chunks, a throughput limit's slices)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from faults.http import SlowBody

__all__ = ["SLICE_S", "Pacer", "Timer", "release_plan"]

# A throughput limit sends what this long's worth of tokens allows, once they have accrued.
SLICE_S = 0.01

Piece = tuple[float, bytes]


class Timer:
    """Calls ``callback`` once ``delay_s`` has passed by the monotonic clock. Event loop timers
    may wake a little early (uvloop rounds to milliseconds), and a fault that promises a delay
    must not deliver less."""

    __slots__ = ("_callback", "_deadline", "_handle", "_loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay_s: float, callback: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._deadline = time.monotonic() + delay_s
        self._handle = loop.call_later(delay_s, self._fire)

    def _fire(self) -> None:
        left = self._deadline - time.monotonic()
        if left > 0:
            self._handle = self._loop.call_later(left, self._fire)
            return
        self._callback()

    def cancel(self) -> None:
        self._handle.cancel()


def release_plan(
    payload: bytes, head_length: int, slow: SlowBody | None, bytes_per_s: float | None
) -> list[Piece]:
    """When each part of ``payload`` goes out: ``(seconds after the start, bytes)`` in order.

    A slow body sends the head at once and the body in ``chunks`` even pieces, the last one
    ``duration_ms`` after the start. A throughput limit cuts every piece into slices and holds
    each slice until the bytes sent so far, itself included, fit the rate.
    """
    pieces: list[Piece]
    if slow is None:
        pieces = [(0.0, payload)]
    else:
        body = payload[head_length:]
        size, count = len(body), slow.chunks
        step_s = slow.duration_ms / 1000.0 / count
        pieces = [(0.0, payload[:head_length])]
        pieces += [
            ((i + 1) * step_s, body[i * size // count : (i + 1) * size // count])
            for i in range(count)
        ]
    if bytes_per_s is not None:
        pieces = _sliced(pieces, bytes_per_s)
    return [(at, data) for at, data in pieces if data]


def _sliced(pieces: list[Piece], bytes_per_s: float) -> list[Piece]:
    width = max(1, int(bytes_per_s * SLICE_S))
    sent = 0
    out: list[Piece] = []
    for at, data in pieces:
        for start in range(0, len(data), width):
            part = data[start : start + width]
            sent += len(part)
            out.append((max(at, sent / bytes_per_s), part))
    return out


class Pacer:
    """Writes ``pieces`` on time through ``write`` once started, then calls ``done``."""

    __slots__ = ("_done", "_finish", "_index", "_loop", "_pieces", "_start", "_timer", "_write")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pieces: list[Piece],
        write: Callable[[bytes], None],
        done: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._pieces = pieces
        self._write = write
        self._done = done
        self._index = 0
        self._start = 0.0
        self._timer: Timer | None = None
        self._finish: asyncio.Handle | None = None

    def start(self) -> None:
        self._start = time.monotonic()
        self._next()

    def _next(self) -> None:
        pieces = self._pieces
        while self._index < len(pieces):
            at, data = pieces[self._index]
            wait = self._start + at - time.monotonic()
            if wait > 0:
                self._timer = Timer(self._loop, wait, self._next)
                return
            self._index += 1
            self._write(data)
        self._timer = None
        # Always from the loop, never from inside start(): its caller is not done yet.
        self._finish = self._loop.call_soon(self._done)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._finish is not None:
            self._finish.cancel()
