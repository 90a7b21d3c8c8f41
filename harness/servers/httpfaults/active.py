"""The faults active on one HTTP hop, and what they do to the next call.

Pure bookkeeping, no I/O: a server asks ``decide()`` once per call and carries the decision
out its own way (an aiohttp stub, or the raw-socket fault layer in front of the endpoint).
Delays apply first, then the first fault that answers in place of the server (rate limit,
abort, malformed) wins; slow bodies and throughput limits shape whatever answer goes out.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from faults.http import (
    Abort,
    Delay,
    HttpFaultSpec,
    Malformed,
    RateLimit,
    SlowBody,
    StreamFault,
    Throughput,
    fault_to_json,
)

__all__ = ["CONNECTION_MALFORMED", "ActiveFaults", "Answer", "Decision"]

# Malformed answers that break the connection rather than send a wrong HTTP answer.
CONNECTION_MALFORMED = frozenset({"empty", "truncated", "random_bytes", "reset"})
_HTML = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
# Valid up to the point a proxy cut it: a 200 whose JSON does not parse.
_BROKEN_JSON = b'{"predictions": [[0.12, 0.5'
_SHAPING = frozenset({SlowBody.kind, Throughput.kind})


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer sent in place of the real one."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one call: wait ``delay_s``; then send ``answer`` instead of the real one,
    or break the connection as ``malformed`` says, or pass the real answer on, dribbled as
    ``slow_body`` says and at no more than ``bytes_per_s``. ``injected`` names the fault kinds
    that hit the call, for the hop's counters."""

    delay_s: float = 0.0
    answer: Answer | None = None
    malformed: str | None = None
    slow_body: SlowBody | None = None
    bytes_per_s: float | None = None
    injected: tuple[str, ...] = ()
    # A streamed answer broken part way (by the fault layer in front of the endpoint, or a
    # stub's event stream).
    stream: StreamFault | None = None


UNTOUCHED = Decision()


@dataclass(slots=True)
class _Bucket:
    rate: float
    burst: int
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until the next one."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(slots=True)
class _Named:
    faults: tuple[HttpFaultSpec, ...]
    buckets: dict[int, _Bucket] = field(default_factory=dict)


class ActiveFaults:
    """Named sets of faults on one hop, with seeded dice so a run's hit pattern repeats."""

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._seed = seed
        self._clock = clock
        self._dice = random.Random(seed)
        self._active: dict[str, _Named] = {}

    def __bool__(self) -> bool:
        return bool(self._active)

    def put(self, name: str, faults: tuple[HttpFaultSpec, ...]) -> None:
        """Switch on (or replace) the faults called ``name``; rate limits start with a full
        bucket, and the dice are reseeded so the pattern after a change is reproducible."""
        now = self._clock()
        buckets = {
            index: _Bucket(fault.rps, fault.burst, float(fault.burst), now)
            for index, fault in enumerate(faults)
            if isinstance(fault, RateLimit)
        }
        self._active[name] = _Named(faults, buckets)
        self._dice = random.Random(self._seed)

    def remove(self, name: str) -> bool:
        return self._active.pop(name, None) is not None

    def clear(self) -> None:
        self._active.clear()

    def to_json(self) -> dict[str, list[dict[str, object]]]:
        return {
            name: [fault_to_json(fault) for fault in named.faults]
            for name, named in self._active.items()
        }

    def decide(self) -> Decision:
        if not self._active:
            return UNTOUCHED
        now = self._clock()
        delay = 0.0
        answer: Answer | None = None
        malformed: str | None = None
        slow: SlowBody | None = None
        bytes_per_s: float | None = None
        stream: StreamFault | None = None
        injected: list[str] = []
        for named in self._active.values():
            for index, fault in enumerate(named.faults):
                if isinstance(fault, Delay):
                    if self._hits(fault.percentage):
                        delay += fault.latency.sample_s(self._dice)
                        injected.append(fault.kind)
                elif isinstance(fault, SlowBody):
                    # Shaping applies to whatever answer goes out, made up or real, so it is
                    # looked at whether or not an earlier fault already answers.
                    if slow is None and self._hits(fault.percentage):
                        slow = fault
                        injected.append(fault.kind)
                elif isinstance(fault, Throughput):
                    bytes_per_s = min(bytes_per_s or math.inf, fault.bytes_per_s)
                    injected.append(fault.kind)
                elif isinstance(fault, StreamFault):
                    if stream is None and self._hits(fault.percentage):
                        stream = fault
                        injected.append(fault.kind)
                elif answer is not None or malformed is not None:
                    continue
                elif isinstance(fault, RateLimit):
                    wait = named.buckets[index].take(now)
                    if wait > 0:
                        answer = _too_many(wait)
                        injected.append(fault.kind)
                elif isinstance(fault, Abort):
                    if self._hits(fault.percentage):
                        answer = _abort(fault)
                        injected.append(fault.kind)
                elif isinstance(fault, Malformed) and self._hits(fault.percentage):
                    answer, malformed = _malformed(fault.what)
                    injected.append(fault.kind)
        if malformed is not None:
            # A broken connection has no body to shape (a made-up answer still can be): the
            # shaping does not happen, so it is not counted as injected either.
            slow, bytes_per_s = None, None
            injected = [kind for kind in injected if kind not in _SHAPING]
        shaped = slow is not None or bytes_per_s is not None
        if stream is not None and (answer is not None or malformed is not None or shaped):
            # A made-up or broken answer is no stream; a held, dribbled one is shaped instead.
            stream = None
            injected.remove(StreamFault.kind)
        return Decision(delay, answer, malformed, slow, bytes_per_s, tuple(injected), stream)

    def _hits(self, percentage: float) -> bool:
        if percentage >= 100.0:
            return True
        return percentage > 0.0 and self._dice.random() * 100.0 < percentage


def _too_many(wait_s: float) -> Answer:
    # Retry-After is whole seconds (RFC 9110): clients that parse it reject fractions.
    retry_after = max(1, math.ceil(wait_s))
    body = json.dumps({"error": "rate limit exceeded", "retry_after_s": retry_after}).encode()
    headers = (("Content-Type", "application/json"), ("Retry-After", str(retry_after)))
    return Answer(429, headers, body)


def _abort(fault: Abort) -> Answer:
    headers = [("Content-Type", "application/json")]
    if fault.retry_after_s is not None:
        # Fractions are off-spec but let tests use short waits; say whole seconds when whole.
        headers.append(("Retry-After", f"{fault.retry_after_s:g}"))
    if fault.body is not None:
        body = fault.body.encode()
        if not _is_json(body):
            headers[0] = ("Content-Type", "text/plain; charset=utf-8")
    else:
        body = json.dumps({"error": "injected fault", "status": fault.status}).encode()
    return Answer(fault.status, tuple(headers), body)


def _malformed(what: str) -> tuple[Answer | None, str | None]:
    if what == "invalid_json":
        return Answer(200, (("Content-Type", "application/json"),), _BROKEN_JSON), None
    if what == "wrong_content_type":
        return Answer(200, (("Content-Type", "text/html; charset=utf-8"),), _HTML), None
    return None, what


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
