"""Where a pipelined request ends: llhttp reports that a message is complete but not at which
byte, so the split is found again, by bisection, on a throwaway parser."""

from __future__ import annotations

import httptools

__all__ = ["request_end"]


class _Ends:
    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = False

    def on_message_complete(self) -> None:
        self.complete = True


def request_end(before: list[bytes], data: bytes) -> int:
    """How many bytes of ``data`` finish the request that ``before`` began, when ``data``
    is known to finish it and start another. Runs only for pipelined requests, at the cost
    of a few parses of the one request."""
    low, high = 1, len(data)
    while low < high:
        middle = (low + high) // 2
        if _completes(before, data[:middle]):
            high = middle
        else:
            low = middle + 1
    return low


def _completes(before: list[bytes], tail: bytes) -> bool:
    ends = _Ends()
    parser = httptools.HttpRequestParser(ends)
    try:
        for chunk in before:
            parser.feed_data(chunk)
        parser.feed_data(tail)
    except httptools.HttpParserError:
        # Past the end, or an upgrade: only whether the first request completed matters.
        pass
    return ends.complete
