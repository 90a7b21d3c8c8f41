"""HTTP faults: what Toxiproxy cannot do (it is TCP only), such as 429 rate limits, 5xx bursts and
malformed answers. They live in the stubs and in the HTTP fault layer in front of the endpoint,
and are switched on and off, by name, through their fault control endpoint.

The kinds follow Envoy's fault filter (abort, delay) and WireMock's faults (malformed answers,
chunked dribble); latency distributions use WireMock's names (fixed, uniform, lognormal).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from harness.system import loopback

__all__ = [
    "CONTROL_TIMEOUT_S",
    "FIELDS",
    "HTTP_FAULT_KINDS",
    "MALFORMED_KINDS",
    "STREAM_ACTIONS",
    "Abort",
    "Delay",
    "Fixed",
    "HttpControl",
    "HttpError",
    "HttpFaultSpec",
    "Latency",
    "LogNormal",
    "Malformed",
    "RateLimit",
    "SlowBody",
    "StreamFault",
    "Throughput",
    "Uniform",
    "clear_http_faults",
    "fault_from_json",
    "fault_to_json",
    "faults_from_body",
    "latency_from_json",
]

CONTROL_TIMEOUT_S = 5.0


class HttpControl(Protocol):
    """Where the fault control endpoint of an HTTP hop (a stub, or ``endpoint``) answers."""

    def fault_control_url(self, target: str) -> str: ...


# --- checks --------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _number(name: str, value: object) -> float:
    if not _is_number(value):
        raise ValueError(f"expected a number for {name} but got {name}={value!r}")
    return float(value)  # type: ignore[arg-type]


def _required_number(fields: Mapping[str, Any], name: str) -> float:
    if name not in fields:
        raise ValueError(f"expected a number for {name} but it is missing")
    return _number(name, fields[name])


def _known(fields: Mapping[str, Any], allowed: set[str] | frozenset[str], what: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"expected fields among {sorted(allowed)} for {what} but got {unknown}")


def _check_ms(name: str, value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"expected {name} >= 0 milliseconds but got {name}={value!r}")


def _check_percentage(value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"expected percentage in 0..100 but got percentage={value!r}")


# --- latency distributions -------------------------------------------------------------------


class _Random(Protocol):
    def random(self) -> float: ...

    def uniform(self, a: float, b: float) -> float: ...

    def lognormvariate(self, mu: float, sigma: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """Always ``ms`` milliseconds."""

    ms: float

    def __post_init__(self) -> None:
        _check_ms("ms", self.ms)

    def sample_s(self, dice: _Random) -> float:
        return self.ms / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {"type": "fixed", "ms": self.ms}


@dataclass(frozen=True, slots=True)
class Uniform:
    """Evenly spread between ``lower`` and ``upper`` milliseconds."""

    lower: float
    upper: float

    def __post_init__(self) -> None:
        _check_ms("lower", self.lower)
        _check_ms("upper", self.upper)
        if self.upper < self.lower:
            raise ValueError(
                f"expected lower <= upper but got lower={self.lower!r}, upper={self.upper!r}"
            )

    def sample_s(self, dice: _Random) -> float:
        return dice.uniform(self.lower, self.upper) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {"type": "uniform", "lower": self.lower, "upper": self.upper}


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A long tail, as real APIs have: half the samples below ``median`` milliseconds, spread
    by ``sigma`` (the standard deviation of the logarithm)."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        _check_ms("median", self.median)
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"expected sigma >= 0 but got sigma={self.sigma!r}")

    def sample_s(self, dice: _Random) -> float:
        if self.median <= 0:
            return 0.0
        return dice.lognormvariate(math.log(self.median), self.sigma) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {"type": "lognormal", "median": self.median, "sigma": self.sigma}


Latency = Fixed | Uniform | LogNormal
_LATENCY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "fixed": ("ms",),
    "uniform": ("lower", "upper"),
    "lognormal": ("median", "sigma"),
}


def latency_from_json(value: object) -> Latency:
    """A number (fixed milliseconds) or ``{type: fixed|uniform|lognormal, ...}``."""
    if _is_number(value):
        return Fixed(float(value))  # type: ignore[arg-type]
    if not isinstance(value, Mapping):
        raise ValueError(
            "expected milliseconds or {type: fixed|uniform|lognormal, ...} "
            f"but got latency={value!r}"
        )
    kind = str(value.get("type"))
    if kind not in _LATENCY_FIELDS:
        raise ValueError(
            f"expected latency type among {sorted(_LATENCY_FIELDS)} but got type={kind!r}"
        )
    wanted = _LATENCY_FIELDS[kind]
    _known(value, {"type", *wanted}, f"a {kind} latency")
    numbers = [_required_number(value, name) for name in wanted]
    if kind == "fixed":
        return Fixed(*numbers)
    if kind == "uniform":
        return Uniform(*numbers)
    return LogNormal(*numbers)


# --- the fault kinds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Abort:
    """Answer ``percentage`` % of calls with ``status`` (and ``Retry-After`` when given)."""

    kind: ClassVar[str] = "abort"
    status: int = 503
    percentage: float = 100.0
    retry_after_s: float | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError(f"expected an integer status but got status={self.status!r}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"expected status in 400..599 but got status={self.status}")
        _check_percentage(self.percentage)
        if self.retry_after_s is not None and not (
            math.isfinite(self.retry_after_s) and self.retry_after_s >= 0
        ):
            raise ValueError(
                f"expected retry_after_s >= 0 but got retry_after_s={self.retry_after_s!r}"
            )

    def describe(self) -> str:
        return f"{self.percentage:g}% of calls answered {self.status}"


@dataclass(frozen=True, slots=True)
class Delay:
    """Hold ``percentage`` % of calls for a time drawn from ``latency`` before answering."""

    kind: ClassVar[str] = "delay"
    latency: Latency = Fixed(0.0)
    percentage: float = 100.0

    def __post_init__(self) -> None:
        _check_percentage(self.percentage)

    def describe(self) -> str:
        shape = self.latency.to_json()
        detail = ", ".join(f"{k}={v:g}" for k, v in shape.items() if k != "type")
        return f"{self.percentage:g}% of calls delayed ({shape['type']} {detail} ms)"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rps`` calls per second with bursts of ``burst``; the rest are answered
    429 with a Retry-After of the time until the next token, as real API rate limits do."""

    kind: ClassVar[str] = "rate_limit"
    rps: float = 10.0
    burst: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rps) and self.rps > 0):
            raise ValueError(f"expected rps > 0 but got rps={self.rps!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"expected an integer burst >= 1 but got burst={self.burst!r}")

    def describe(self) -> str:
        return f"rate limited to {self.rps:g} calls/s (burst {self.burst}), 429 beyond"


MALFORMED_KINDS = (
    "empty",
    "truncated",
    "random_bytes",
    "reset",
    "invalid_json",
    "wrong_content_type",
)


@dataclass(frozen=True, slots=True)
class Malformed:
    """Answer ``percentage`` % of calls with a broken answer: ``empty`` (the connection closed
    with nothing sent), ``truncated`` (a body shorter than its Content-Length), ``random_bytes``
    (garbage, then close), ``reset`` (connection reset by peer), ``invalid_json`` (200 with a
    body that does not parse) or ``wrong_content_type`` (200 with an HTML page)."""

    kind: ClassVar[str] = "malformed"
    what: str = "empty"
    percentage: float = 100.0

    def __post_init__(self) -> None:
        if self.what not in MALFORMED_KINDS:
            raise ValueError(
                f"expected what among {list(MALFORMED_KINDS)} but got what={self.what!r}"
            )
        _check_percentage(self.percentage)

    def describe(self) -> str:
        return f"{self.percentage:g}% of calls answered malformed ({self.what})"


@dataclass(frozen=True, slots=True)
class SlowBody:
    """The answer's body dribbled in ``chunks`` pieces spread over ``duration_ms``."""

    kind: ClassVar[str] = "slow_body"
    chunks: int = 5
    duration_ms: float = 1000.0
    percentage: float = 100.0

    def __post_init__(self) -> None:
        if isinstance(self.chunks, bool) or not isinstance(self.chunks, int) or self.chunks < 1:
            raise ValueError(f"expected an integer chunks >= 1 but got chunks={self.chunks!r}")
        _check_ms("duration_ms", self.duration_ms)
        _check_percentage(self.percentage)

    def describe(self) -> str:
        return f"bodies dribbled in {self.chunks} chunks over {self.duration_ms:g} ms"


@dataclass(frozen=True, slots=True)
class Throughput:
    """Answers sent at no more than ``bytes_per_s`` bytes per second."""

    kind: ClassVar[str] = "throughput"
    bytes_per_s: float = 10_000.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bytes_per_s) and self.bytes_per_s > 0):
            raise ValueError(f"expected bytes_per_s > 0 but got bytes_per_s={self.bytes_per_s!r}")

    def describe(self) -> str:
        return f"answers sent at {self.bytes_per_s:g} bytes/s"


# What a stream fault does once ``after_events`` events of a streamed answer went out.
STREAM_ACTIONS = ("stall", "cut", "no_done", "slow", "malformed")


@dataclass(frozen=True, slots=True)
class StreamFault:
    """A streamed answer (server-sent events) broken part way: once ``after_events`` events went
    out, ``stall`` holds the rest for ``stall_ms``, ``cut`` closes the connection mid-body,
    ``no_done`` never sends the end (``data: [DONE]`` and what follows), so the client waits
    until its own timeout, ``slow`` lets the rest out at ``events_per_s``, and ``malformed``
    spoils the next event's data (its first byte replaced, the length kept). Answers that are
    not event streams pass untouched. On ``endpoint`` the HTTP fault layer breaks the endpoint's
    streams; on a dependency, its stub breaks the streams it answers (a routes ``stream``, or an
    event stream it proxies or replays)."""

    kind: ClassVar[str] = "stream"
    action: str = "stall"
    after_events: int = 3
    stall_ms: float = 1000.0
    events_per_s: float = 10.0
    percentage: float = 100.0

    def __post_init__(self) -> None:
        if self.action not in STREAM_ACTIONS:
            raise ValueError(
                f"expected action among {list(STREAM_ACTIONS)} but got action={self.action!r}"
            )
        events = self.after_events
        if isinstance(events, bool) or not isinstance(events, int) or events < 0:
            raise ValueError(f"expected an integer after_events >= 0 but got {events!r}")
        _check_ms("stall_ms", self.stall_ms)
        rate = self.events_per_s
        if isinstance(rate, bool) or not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"expected events_per_s > 0 but got events_per_s={rate!r}")
        _check_percentage(self.percentage)

    def describe(self) -> str:
        done = {
            "stall": f"stalled {self.stall_ms:g} ms",
            "cut": "cut",
            "no_done": "never ended",
            "slow": f"slowed to {self.events_per_s:g} events/s",
            "malformed": "given a malformed event",
        }[self.action]
        return f"{self.percentage:g}% of streams {done} after {self.after_events} events"


HttpFaultSpec = Abort | Delay | RateLimit | Malformed | SlowBody | Throughput | StreamFault
_KINDS: Mapping[str, type[Any]] = {
    cls.kind: cls for cls in (Abort, Delay, RateLimit, Malformed, SlowBody, Throughput, StreamFault)
}
HTTP_FAULT_KINDS = tuple(_KINDS)
# The fields of each kind as a scenario and the control API write them.
FIELDS: Mapping[str, frozenset[str]] = {
    "abort": frozenset({"status", "percentage", "retry_after_s", "body"}),
    "delay": frozenset({"latency", "percentage"}),
    "rate_limit": frozenset({"rps", "burst"}),
    "malformed": frozenset({"what", "percentage"}),
    "slow_body": frozenset({"chunks", "duration_ms", "percentage"}),
    "throughput": frozenset({"bytes_per_s"}),
    "stream": frozenset({"action", "after_events", "stall_ms", "events_per_s", "percentage"}),
}


def fault_from_json(kind: str, fields: Mapping[str, Any]) -> HttpFaultSpec:
    """Build one fault of ``kind`` from its fields, rejecting unknown fields and wrong types."""
    if kind not in _KINDS:
        raise ValueError(f"expected kind among {list(HTTP_FAULT_KINDS)} but got kind={kind!r}")
    _known(fields, FIELDS[kind], f"a {kind} fault")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "latency":
            values[name] = latency_from_json(value)
        elif name in {"what", "body", "action"} and value is not None:
            if not isinstance(value, str):
                raise ValueError(f"expected a string for {name} but got {name}={value!r}")
            values[name] = value
        elif name in {"status", "burst", "chunks", "after_events"}:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected an integer {name} but got {name}={value!r}")
            values[name] = value
        elif name in {"retry_after_s", "body"} and value is None:
            values[name] = None
        else:
            values[name] = _number(name, value)
    fault: HttpFaultSpec = _KINDS[kind](**values)
    return fault


def fault_to_json(fault: HttpFaultSpec) -> dict[str, Any]:
    """``{"kind": ..., fields...}``: what the control API takes and ``fault_from_json`` reads."""
    body: dict[str, Any] = {"kind": fault.kind}
    for name in FIELDS[fault.kind]:
        value = getattr(fault, name)
        body[name] = value.to_json() if name == "latency" else value
    return body


def faults_from_body(body: object) -> tuple[HttpFaultSpec, ...]:
    """``{"faults": [{"kind": ..., ...}, ...]}`` as the control endpoint receives it."""
    if not isinstance(body, Mapping) or not isinstance(body.get("faults"), list):
        raise ValueError(f'expected {{"faults": [...]}} but got {body!r}')
    specs = []
    for item in body["faults"]:
        if not isinstance(item, Mapping):
            raise ValueError(f"expected a fault object but got {item!r}")
        fields = dict(item)
        specs.append(fault_from_json(str(fields.pop("kind", "")), fields))
    return tuple(specs)


# --- the scheduled fault -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpError:
    """The HTTP hop ``target`` (a stub, or ``endpoint`` through the fault layer) misbehaves as
    ``faults`` say while the fault is active; several named faults on one hop add up."""

    target: str
    faults: tuple[HttpFaultSpec, ...]

    def apply(self, control: HttpControl, name: str) -> None:
        body = json.dumps({"faults": [fault_to_json(f) for f in self.faults]}).encode()
        _send(self.target, _named(control.fault_control_url(self.target), name), "PUT", body)

    def revert(self, control: HttpControl, name: str) -> None:
        _send(self.target, _named(control.fault_control_url(self.target), name), "DELETE", None)

    def describe(self) -> str:
        return f"{self.target}: " + "; ".join(fault.describe() for fault in self.faults)


def clear_http_faults(target: str, control_url: str) -> None:
    """Switch off every HTTP fault the hop ``target`` at ``control_url`` has on."""
    _send(target, f"{control_url}/_chaos/faults", "DELETE", None)


def _named(control_url: str, name: str) -> str:
    return f"{control_url}/_chaos/faults/{urllib.parse.quote(name, safe='')}"


def _send(target: str, url: str, method: str, body: bytes | None) -> None:
    action = "switch on an HTTP fault" if method == "PUT" else "switch off HTTP faults"
    loopback.control(
        f"HTTP hop {target!r}", url, action, method=method, body=body, timeout_s=CONTROL_TIMEOUT_S
    )
