"""Budgets as a scenario states them: `metric op limit` over one phase of a run, e.g.
``p99_ms < 500`` during a fault."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_TOLERANCE",
    "DROPPED",
    "OPERATORS",
    "PLAIN_METRICS",
    "RECOVERY_TIME",
    "RESOURCE_METRICS",
    "RUN_METRICS",
    "RUN_METRIC_NAMES",
    "TOKEN_METRICS",
    "Budget",
    "canonical_metric",
    "check_phase",
    "dependency_of",
    "format_limit",
    "is_run_metric",
    "judged_mid_run",
    "percentile_of",
    "size_metric_of",
    "stream_percentile_of",
]

OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}
PLAIN_METRICS = frozenset(
    {
        "error_rate",
        "errors",
        "requests",
        "throughput_rps",
        "max_ms",
        "max_queue_depth",
        "timeouts",
        "availability",
        # Bytes of the request and response bodies, median and 99th percentile: serving guides
        # ask to keep payloads small.
        "request_bytes_p50",
        "request_bytes_p99",
        "response_bytes_p50",
        "response_bytes_p99",
        # Streamed answers (load.stream): tokens received per second of the phase, the share
        # of requests that met every objective of load.slo, and streams cut short.
        "tokens_per_s",
        "goodput",
        "cut_streams",
        # The endpoint's generated tokens against the tokens its callers received, over the
        # whole run (TOKEN_METRICS).
        "token_amplification",
        "duplicated_tokens",
    }
)
# Compare the endpoint's token counter before and after the run with what the callers
# received: known once the run is over, and over the whole run only (phase overall).
TOKEN_METRICS = frozenset({"token_amplification", "duplicated_tokens"})
# Seconds from a fault window's end until the timeline is back within the baseline.
RECOVERY_TIME = "recovery_time_s"
# Requests the generator scheduled but never sent, over the whole run.
DROPPED = "dropped"
# CPU and memory of the system under test's endpoint service: worst sample, and mean, per phase.
RESOURCE_METRICS = frozenset({"cpu_pct", "cpu_pct_mean", "memory_pct", "memory_pct_mean"})
DEFAULT_TOLERANCE = 0.2
# Measured by the harness about the system, not per request: no client.<metric> form.
_SYSTEM_METRICS = RESOURCE_METRICS | {RECOVERY_TIME, DROPPED}
_OWN_METRICS = PLAIN_METRICS | _SYSTEM_METRICS
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)_ms$")
_K6_PERCENTILE = re.compile(r"^p\((\d{1,2}(?:\.\d+)?)\)$")
_SIZE = re.compile(r"^(request|response)_bytes_(p50|p99)$")
# Time to first token, inter-token latency and time per output token of streamed answers.
_STREAM_PERCENTILE = re.compile(r"^(ttfb|ttft|itl|tpot)_p(\d{1,2}(?:\.\d+)?)_ms$")
# Over the whole run of a client under test: what the endpoint saw, and what the client did
# (in the order reports show them).
RUN_METRIC_NAMES = (
    "endpoint.requests",
    "endpoint.error_rate",
    "retry_amplification",
    "retry_after_respected",
    "connections_per_call",
    "records_per_request",
    "cache_hit_rate",
)
RUN_METRICS = frozenset(RUN_METRIC_NAMES)
_ENDPOINT_STATUS = re.compile(r"^endpoint\.status_[1-5]\d\d$")
# What a dependency saw in the whole run: its calls, calls per endpoint request, and its
# answers of one status (status_429, status_503, ...).
_DEPENDENCY = re.compile(r"^dep\.([a-z0-9][a-z0-9-]*)\.(calls|calls_per_request|status_[1-5]\d\d)$")
_EXPRESSION = re.compile(
    r"^\s*([A-Za-z0-9_().-]+)\s*(<=|>=|==|<|>)\s*([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*$"
)
_PHASE = re.compile(r"^(overall|baseline|recovery|during:[A-Za-z0-9_.-]+)$")


def check_phase(phase: str) -> None:
    if not _PHASE.match(phase):
        raise ValueError(
            "expected phase overall, baseline, recovery or during:<fault name> "
            f"but got phase={phase!r}"
        )


def format_limit(limit: float) -> str:
    """Every digit of the limit, without a trailing .0 on whole numbers."""
    return str(int(limit)) if limit.is_integer() else repr(limit)


def canonical_metric(name: str) -> str:
    """``p(99)`` (as k6 writes it) and ``p99_ms`` name the same metric."""
    if name.startswith("client."):
        # What the client's users saw: the run's own measurements, named for the two views.
        seen = name.removeprefix("client.")
        if seen in _SYSTEM_METRICS:
            raise ValueError(
                f"expected {seen} without client. (it is about the system) but got {name!r}"
            )
        return "client." + canonical_metric(seen)
    if name in RUN_METRICS or _ENDPOINT_STATUS.match(name):
        return name
    k6 = _K6_PERCENTILE.match(name)
    if k6:
        return f"p{k6.group(1)}_ms"
    if name in _OWN_METRICS or _PERCENTILE.match(name) or _DEPENDENCY.match(name):
        return name
    if _STREAM_PERCENTILE.match(name):
        return name
    raise ValueError(
        f"expected a metric among {sorted(_OWN_METRICS)}, pNN_ms / p(NN), "
        f"ttfb_pNN_ms / ttft_pNN_ms / itl_pNN_ms / tpot_pNN_ms, or "
        f"dep.NAME.calls / dep.NAME.calls_per_request / dep.NAME.status_NNN, client.<metric>, "
        f"endpoint.requests / endpoint.error_rate / endpoint.status_NNN, or one of "
        f"{sorted(RUN_METRICS - {'endpoint.requests', 'endpoint.error_rate'})} but got {name!r}"
    )


def is_run_metric(metric: str) -> bool:
    """Whether ``metric`` is measured over the whole run of a client under test."""
    return metric in RUN_METRICS or bool(_ENDPOINT_STATUS.match(metric))


def dependency_of(metric: str) -> str | None:
    """The dependency a ``dep.NAME.*`` metric is about, else None."""
    match = _DEPENDENCY.match(metric)
    return match.group(1) if match else None


def judged_mid_run(metric: str) -> bool:
    """Whether ``metric`` can be judged on what a run measured so far (so may abort it): not a
    dependency's counts, a recovery time, a client's run-wide measures or the endpoint's tokens
    against the received ones, which are only known once the run is over."""
    return not (
        metric == RECOVERY_TIME
        or dependency_of(metric) is not None
        or is_run_metric(metric)
        or metric.removeprefix("client.") in TOKEN_METRICS
    )


def percentile_of(metric: str) -> float | None:
    match = _PERCENTILE.match(metric)
    return float(match.group(1)) if match else None


def stream_percentile_of(metric: str) -> tuple[str, float] | None:
    """``ttft_p99_ms`` -> ``("ttft", 99.0)``; None for any other metric."""
    match = _STREAM_PERCENTILE.match(metric)
    return (match.group(1), float(match.group(2))) if match else None


def size_metric_of(metric: str) -> tuple[str, str] | None:
    """``response_bytes_p99`` -> ``("response", "p99")``: which body, and which point of its
    sizes; None for any other metric."""
    match = _SIZE.match(metric)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class Budget:
    """``metric op limit`` that must hold over ``phase``.

    ``tolerance`` is how far above the baseline's p99 a second may be and still count as
    recovered (``recovery_time_s`` only). With ``abort_on_fail`` the budget is also judged once a
    second while the run goes on, from ``delay_abort_s`` on, and the run stops the first time
    what was measured so far breaks it (as k6's thresholds do).
    """

    metric: str
    op: str
    limit: float
    phase: str = "overall"
    name: str = ""
    tolerance: float = DEFAULT_TOLERANCE
    abort_on_fail: bool = False
    delay_abort_s: float = 0.0

    @classmethod
    def parse(
        cls,
        expression: str,
        *,
        phase: str = "overall",
        name: str = "",
        tolerance: float = DEFAULT_TOLERANCE,
        abort_on_fail: bool = False,
        delay_abort_s: float = 0.0,
    ) -> Budget:
        match = _EXPRESSION.match(expression)
        if match is None:
            raise ValueError(
                f"expected '<metric> <op> <number>' such as 'p99_ms < 500' but got {expression!r}"
            )
        metric, op, limit = match.groups()
        check_phase(phase)
        if tolerance < 0:
            raise ValueError(f"expected tolerance >= 0 but got tolerance={tolerance!r}")
        if delay_abort_s < 0:
            raise ValueError(f"expected delay_abort_s >= 0 but got delay_abort_s={delay_abort_s!r}")
        return cls(
            canonical_metric(metric),
            op,
            float(limit),
            phase,
            name,
            float(tolerance),
            abort_on_fail,
            float(delay_abort_s),
        )

    @property
    def expression(self) -> str:
        return f"{self.metric} {self.op} {format_limit(self.limit)}"

    @property
    def label(self) -> str:
        return self.name or self.expression

    def holds(self, observed: float) -> bool:
        return OPERATORS[self.op](observed, self.limit)
