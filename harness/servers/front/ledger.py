"""Attempts tied to logical calls: a client under test is handed a URL per logical call with
``/_call/<index>`` before the endpoint's path; the fault layer strips it before forwarding and
notes each attempt's start, end, status and Retry-After under that index."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CALL_PREFIX", "Ledger", "retry_after_in", "untag"]

CALL_PREFIX = b"/_call/"
# The request line of a tagged call: its method, then the prefix and the call's index.
_TAGGED = re.compile(rb"^([A-Z]+) /_call/(\d{1,12})(?=[/? ])")
_RETRY_AFTER = re.compile(rb"\r\nretry-after:[ \t]*([^\r\n]*)", re.IGNORECASE)
# Attempts kept at most; beyond it they are counted, not kept.
_MAX_ATTEMPTS = 500_000


def untag(data: bytes) -> tuple[bytes, int]:
    """The first bytes of a request without its call prefix, and the call's index (-1 when
    the request carries none)."""
    found = _TAGGED.match(data)
    if found is None:
        return data, -1
    # What follows is the endpoint's path, a query, or the end of the target ("/" then).
    rest = data[found.end() :]
    path = rest if rest.startswith(b"/") else b"/" + rest
    return found.group(1) + b" " + path, int(found.group(2))


def retry_after_in(head: bytes) -> float | None:
    """The Retry-After of an answer's head, in seconds, when it gives a number."""
    found = _RETRY_AFTER.search(head)
    if found is None:
        return None
    try:
        return float(found.group(1).strip())
    except ValueError:
        return None


class Ledger:
    """Attempts by logical call, since the last ``clear``."""

    def __init__(self) -> None:
        self._calls: dict[int, list[tuple[float, float, str, float | None]]] = {}
        self._kept = 0
        self.overflow = 0

    def add(
        self, index: int, start: float, end: float, status: int | str, retry_after: float | None
    ) -> None:
        if self._kept >= _MAX_ATTEMPTS:
            self.overflow += 1
            return
        self._kept += 1
        self._calls.setdefault(index, []).append((start, end, str(status), retry_after))

    def clear(self) -> None:
        self._calls.clear()
        self._kept = 0
        self.overflow = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": {str(index): attempts for index, attempts in self._calls.items()},
            "overflow": self.overflow,
        }
