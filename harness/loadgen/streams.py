"""Streamed answers (server-sent events, as OpenAI-compatible LLM endpoints send them), timed
event by event: what a user of a chat endpoint feels is the first token and the gaps between
tokens, not the last byte.

A :class:`StreamReader` is fed the body as it arrives; it finds each ``data:`` event, counts
an event whose ``choices`` carry text (``delta.content`` of a chat chunk, ``text`` of a
completion) as a token, and says whether the stream ended properly: with ``data: [DONE]`` or
a final event with a ``finish_reason``. Where the final event carries ``usage``, its
``completion_tokens`` is the count of tokens (a server may put several in one event).

Times are monotonic seconds; time to first token counts from the request's intended start, as
its latency does, so a stalled generator cannot hide a slow first token (coordinated
omission).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["StreamReader", "StreamSlo", "StreamTimes"]


@dataclass(frozen=True, slots=True)
class StreamTimes:
    """One streamed answer: times in seconds from the request's intended start."""

    first_byte_s: float | None
    first_token_s: float | None
    # Each gap between two token events, in order.
    gaps_s: tuple[float, ...]
    tokens: int
    # Ended with [DONE] or a final event, not cut.
    complete: bool
    # Whole answer, intended start to its last byte.
    total_s: float
    # Events whose data was neither JSON nor [DONE].
    malformed: int = 0

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first (vLLM's TPOT); None under two tokens."""
        if self.first_token_s is None or self.tokens < 2:
            return None
        return (self.total_s - self.first_token_s) / (self.tokens - 1)


@dataclass(frozen=True, slots=True)
class StreamSlo:
    """Service-level objectives a streamed request must meet to count towards goodput (like
    vLLM's ``--goodput``); an objective left None is not judged."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, times: StreamTimes) -> bool:
        """Whether a successful stream met every objective given."""
        if not times.complete:
            return False
        checks = (
            (self.ttft_ms, times.first_token_s),
            (self.tpot_ms, times.tpot_s),
            (self.e2e_ms, times.total_s),
        )
        for limit_ms, seconds in checks:
            if limit_ms is not None and (seconds is None or seconds * 1000 > limit_ms):
                return False
        return True


class StreamReader:
    """The events of one streamed body, timed as they arrive."""

    def __init__(self, intended: float) -> None:
        self._intended = intended
        self._pending = b""
        self._first_byte: float | None = None
        self._token_times: list[float] = []
        self._usage_tokens: int | None = None
        self._complete = False
        self._last = intended
        self._malformed = 0
        self.bytes = 0

    def feed(self, data: bytes, now: float) -> None:
        """Bytes of the body that arrived at monotonic time ``now``."""
        if not data:
            return
        if self._first_byte is None:
            self._first_byte = now
        self.bytes += len(data)
        self._last = now
        self._pending += data
        while True:
            end, width = _event_end(self._pending)
            if end < 0:
                return
            event, self._pending = self._pending[:end], self._pending[end + width :]
            self._event(event, now)

    def times(self) -> StreamTimes:
        token_times = self._token_times
        tokens = len(token_times)
        if self._usage_tokens is not None and tokens:
            tokens = max(self._usage_tokens, 1)
        return StreamTimes(
            first_byte_s=None if self._first_byte is None else self._first_byte - self._intended,
            first_token_s=token_times[0] - self._intended if token_times else None,
            gaps_s=tuple(b - a for a, b in itertools.pairwise(token_times)),
            tokens=tokens,
            complete=self._complete,
            total_s=self._last - self._intended,
            malformed=self._malformed,
        )

    def _event(self, event: bytes, now: float) -> None:
        data = b"\n".join(
            line[5:].removeprefix(b" ")
            for line in event.replace(b"\r\n", b"\n").split(b"\n")
            if line.startswith(b"data:")
        )
        if not data:
            return
        if data.strip() == b"[DONE]":
            self._complete = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            self._malformed += 1
            return
        if not isinstance(chunk, dict):
            self._malformed += 1
            return
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self._usage_tokens = usage["completion_tokens"]
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if _text_of(choice):
                self._token_times.append(now)
                break
        if any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
            self._complete = True


def _event_end(pending: bytes) -> tuple[int, int]:
    """Where the first whole event in ``pending`` ends and the width of its blank line."""
    found = [
        (at, width)
        for at, width in ((pending.find(b"\n\n"), 2), (pending.find(b"\r\n\r\n"), 4))
        if at >= 0
    ]
    return min(found) if found else (-1, 0)


def _text_of(choice: dict[str, Any]) -> str:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        content = delta.get("content")
        return content if isinstance(content, str) else ""
    text = choice.get("text")
    return text if isinstance(text, str) else ""
