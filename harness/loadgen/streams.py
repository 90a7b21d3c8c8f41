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

:class:`StreamArrays` holds many streams' timings as arrays: how the native engine hands them
over, recorded in one go instead of a Python call per stream.
"""

from __future__ import annotations

import itertools
import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["StreamArrays", "StreamBuffer", "StreamReader", "StreamSlo", "StreamTimes"]


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


@dataclass(frozen=True, slots=True)
class StreamArrays:
    """Many streams' :class:`StreamTimes`, one entry per stream (NaN where nothing came), and
    every inter-token gap of all of them in one array, ``gap_counts[i]`` of them belonging to
    stream ``i``, in order."""

    first_byte_s: npt.NDArray[np.float64]
    first_token_s: npt.NDArray[np.float64]
    total_s: npt.NDArray[np.float64]
    tokens: npt.NDArray[np.int64]
    complete: npt.NDArray[np.bool_]
    malformed: npt.NDArray[np.int64]
    gap_counts: npt.NDArray[np.int64]
    gaps_s: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def tpot_s(self) -> npt.NDArray[np.float64]:
        """:attr:`StreamTimes.tpot_s` of each stream; NaN where it has none."""
        spread = self.tokens >= 2
        tpot = np.full(len(self), np.nan)
        tpot[spread] = (self.total_s[spread] - self.first_token_s[spread]) / (
            self.tokens[spread] - 1
        )
        return tpot

    def pick(self, mine: npt.NDArray[np.bool_]) -> StreamArrays:
        """The streams where ``mine`` holds, with their gaps."""
        owners = np.repeat(np.arange(len(self)), self.gap_counts)
        return StreamArrays(
            self.first_byte_s[mine],
            self.first_token_s[mine],
            self.total_s[mine],
            self.tokens[mine],
            self.complete[mine],
            self.malformed[mine],
            self.gap_counts[mine],
            self.gaps_s[mine[owners]],
        )

    def good(self, codes: npt.NDArray[np.int64], slo: StreamSlo) -> npt.NDArray[np.bool_]:
        """Which streams count towards goodput: answered below 400 (``codes``: a status, or
        negative for a failure) and meeting every objective of ``slo``, as
        :meth:`StreamSlo.met` judges one."""
        good = (codes >= 0) & (codes < 400) & self.complete
        checks = (
            (slo.ttft_ms, self.first_token_s),
            (slo.tpot_ms, self.tpot_s),
            (slo.e2e_ms, self.total_s),
        )
        for limit_ms, seconds in checks:
            if limit_ms is not None:
                # NaN compares false: a stream without the measure fails the objective.
                good &= seconds * 1000 <= limit_ms
        return good

    def each(self) -> Iterator[StreamTimes]:
        """One :class:`StreamTimes` per stream, in order."""
        ends = np.cumsum(self.gap_counts).tolist()
        gaps = self.gaps_s.tolist()
        rows = zip(
            self.first_byte_s.tolist(),
            self.first_token_s.tolist(),
            self.tokens.tolist(),
            self.complete.tolist(),
            self.total_s.tolist(),
            self.malformed.tolist(),
            ends,
            self.gap_counts.tolist(),
            strict=True,
        )
        for first_byte, first_token, tokens, complete, total, malformed, end, count in rows:
            yield StreamTimes(
                first_byte_s=None if math.isnan(first_byte) else first_byte,
                first_token_s=None if math.isnan(first_token) else first_token,
                gaps_s=tuple(gaps[end - count : end]),
                tokens=tokens,
                complete=complete,
                total_s=total,
                malformed=malformed,
            )


class StreamBuffer:
    """Streams' timings gathered one at a time and handed over as :class:`StreamArrays`:
    recording a stream on its own costs tens of microseconds of numpy and histogram calls,
    recording a few hundred at once a few microseconds each."""

    def __init__(self) -> None:
        self._intended, self._good = array("d"), array("b")
        self._first_byte, self._first_token, self._total = array("d"), array("d"), array("d")
        self._tokens, self._complete = array("q"), array("b")
        self._malformed, self._gap_counts, self._gaps = array("q"), array("q"), array("d")

    def __len__(self) -> int:
        return len(self._intended)

    def add(self, intended: float, times: StreamTimes, good: bool) -> None:
        """One stream of a request intended at ``intended``; ``good`` if it met the SLOs."""
        nan = math.nan
        self._intended.append(intended)
        self._good.append(good)
        self._first_byte.append(nan if times.first_byte_s is None else times.first_byte_s)
        self._first_token.append(nan if times.first_token_s is None else times.first_token_s)
        self._total.append(times.total_s)
        self._tokens.append(times.tokens)
        self._complete.append(times.complete)
        self._malformed.append(times.malformed)
        self._gap_counts.append(len(times.gaps_s))
        self._gaps.extend(times.gaps_s)

    def take(
        self,
    ) -> tuple[npt.NDArray[np.float64], StreamArrays, npt.NDArray[np.bool_]]:
        """Everything added since the last take: intended starts, streams, and which were
        good; the buffer is emptied."""
        streams = StreamArrays(
            _take(self._first_byte, np.float64),
            _take(self._first_token, np.float64),
            _take(self._total, np.float64),
            _take(self._tokens, np.int64),
            _take(self._complete, np.int8).astype(np.bool_),
            _take(self._malformed, np.int64),
            _take(self._gap_counts, np.int64),
            _take(self._gaps, np.float64),
        )
        intended = _take(self._intended, np.float64)
        return intended, streams, _take(self._good, np.int8).astype(np.bool_)


def _take(buffer: array[Any], dtype: type[np.generic]) -> Any:
    """A copy of ``buffer`` as a numpy array of ``dtype``; the buffer is emptied."""
    found = np.frombuffer(buffer, dtype=dtype).copy() if len(buffer) else np.empty(0, dtype)
    del buffer[:]
    return found


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
