"""A run's verdict and figures as Prometheus metrics, for the tools teams already watch: a
textfile for node_exporter's textfile collector, or a push to a Pushgateway. Both go through
prometheus_client's own ``write_to_textfile`` (a temporary file in the same folder, renamed
over the target, so the collector never reads half a file) and ``push_to_gateway``.

The registry is built from the results.json (or certificate.json) dict, so any stored run can
be exported again. Units are Prometheus base units (seconds, ratios), except a budget's
observed value and limit, which stay in the unit of the budget's metric (ms for ``p99_ms``)
so they read against the budget's expression."""

from __future__ import annotations

import math
import urllib.error
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harness.errors import ChaosError, UsageError, transport_cause

__all__ = [
    "CERTIFY_METRICS",
    "JOB",
    "PREFIX",
    "RUN_METRICS",
    "ExportError",
    "MetricDoc",
    "certificate_registry",
    "check_pushgateway_url",
    "check_textfile",
    "push_metrics",
    "run_registry",
    "write_textfile",
]

JOB = "serving_chaos"
PREFIX = "serving_chaos_"
PUSH_TIMEOUT_S = 10.0


class ExportError(ChaosError):
    """Metrics could not be written or pushed: says where to, and the cause."""


@dataclass(frozen=True, slots=True)
class MetricDoc:
    """One exported metric: its name without the prefix, its labels besides the run's own
    (``scenario``, or ``spec`` for a certification), and what it means."""

    name: str
    labels: tuple[str, ...]
    help: str


RUN_METRICS = (
    MetricDoc("run_info", ("backend", "load_shape"), "Always 1: the backend and load shape"),
    MetricDoc("run_passed", (), "1 when every budget held and the run was valid, else 0"),
    MetricDoc("run_valid", (), "1 when the run's numbers can be trusted, else 0"),
    MetricDoc("run_duration_seconds", (), "How long the load ran"),
    MetricDoc("run_started_timestamp_seconds", (), "When the run started, Unix time"),
    MetricDoc("budget_passed", ("budget", "phase"), "1 when the budget held, else 0"),
    MetricDoc(
        "budget_observed", ("budget", "phase"), "What the budget's metric measured, in its unit"
    ),
    MetricDoc("budget_limit", ("budget", "phase"), "The budget's limit, in its metric's unit"),
    MetricDoc("phase_requests", ("phase",), "Requests answered or failed in the phase"),
    MetricDoc("phase_errors", ("phase",), "Requests that failed in the phase"),
    MetricDoc("phase_errors_by_class", ("phase", "class"), "Failed requests by class of failure"),
    MetricDoc("phase_error_ratio", ("phase",), "Failed requests over requests (0 to 1)"),
    MetricDoc(
        "phase_latency_seconds",
        ("phase", "quantile"),
        "Latency from the intended send time: quantile 0.5, 0.9, 0.99, and 1 (the maximum)",
    ),
    MetricDoc("phase_throughput_rps", ("phase",), "Requests per second achieved"),
    MetricDoc("phase_max_queue_depth", ("phase",), "Deepest queue the endpoint reported"),
    MetricDoc("phase_duration_seconds", ("phase",), "How long the phase lasted"),
)

CERTIFY_METRICS = (
    MetricDoc("certify_ready", (), "1 when every check passed, else 0"),
    MetricDoc("certify_check_passed", ("check",), "1 when the check passed, 0 when it failed"),
    MetricDoc("certify_duration_seconds", (), "How long the certification took"),
    MetricDoc(
        "certify_recommended_concurrency",
        ("bound",),
        "Recommended provisioned concurrency: bound min or max",
    ),
    MetricDoc("certify_capacity_rps", (), "The throughput the capacity check found"),
)

_QUANTILES = (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.99", "p99_ms"), ("1", "max_ms"))


class _Families:
    """Gauge families of one run or certificate, filled from its JSON, every sample carrying
    the owner's label (``scenario`` or ``spec``)."""

    def __init__(self, docs: Sequence[MetricDoc], owner: str, name: str) -> None:
        self.owner = (owner, name)
        self.families = {
            doc.name: GaugeMetricFamily(PREFIX + doc.name, doc.help, labels=[owner, *doc.labels])
            for doc in docs
        }

    def add(self, metric: str, value: object, *labels: str) -> None:
        """A sample, unless ``value`` is not a number (not measured): absent, not NaN."""
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, int | float) and math.isfinite(value):
            self.families[metric].add_metric([self.owner[1], *labels], float(value))

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(list(self.families.values())))
        return registry


class _Snapshot(Collector):
    """Metric families computed once, handed out as they are on every collection."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def run_registry(data: Mapping[str, Any]) -> CollectorRegistry:
    """A registry of a run's metrics (RUN_METRICS), built from its results.json dict."""
    families = _Families(RUN_METRICS, "scenario", str(data["scenario"]))
    families.add("run_info", 1, str(data.get("backend", "")), str(data.get("load_shape", "")))
    families.add("run_passed", bool(data.get("passed")))
    families.add("run_valid", bool(data.get("valid", True)))
    families.add("run_duration_seconds", data.get("duration_s"))
    families.add("run_started_timestamp_seconds", _timestamp(data.get("started_at")))
    for budget in data.get("budgets", []):
        labels = (str(budget["name"]), str(budget.get("phase", "overall")))
        families.add("budget_passed", bool(budget.get("passed")), *labels)
        families.add("budget_observed", budget.get("observed"), *labels)
        families.add("budget_limit", budget.get("limit"), *labels)
    for phase, stats in data.get("phases", {}).items():
        _add_phase(families, str(phase), stats)
    return families.registry()


def _add_phase(families: _Families, phase: str, stats: Mapping[str, Any]) -> None:
    families.add("phase_requests", stats.get("requests"), phase)
    families.add("phase_errors", stats.get("errors"), phase)
    for failure, count in sorted((stats.get("errors_by_class") or {}).items()):
        families.add("phase_errors_by_class", count, phase, str(failure))
    families.add("phase_error_ratio", stats.get("error_rate"), phase)
    for quantile, key in _QUANTILES:
        families.add("phase_latency_seconds", _seconds(stats.get(key)), phase, quantile)
    families.add("phase_throughput_rps", stats.get("throughput_rps"), phase)
    families.add("phase_max_queue_depth", stats.get("max_queue_depth"), phase)
    families.add("phase_duration_seconds", stats.get("seconds"), phase)


def certificate_registry(data: Mapping[str, Any]) -> CollectorRegistry:
    """A registry of a certification's metrics (CERTIFY_METRICS), from its certificate.json
    dict. A check that did not apply ("n/a") has no sample."""
    families = _Families(CERTIFY_METRICS, "spec", str(data["name"]))
    families.add("certify_ready", bool(data.get("ready")))
    families.add("certify_duration_seconds", data.get("duration_s"))
    for check in data.get("checks", []):
        verdict = check.get("verdict")
        if verdict in {"pass", "fail"}:
            families.add("certify_check_passed", verdict == "pass", str(check["name"]))
    recommended = data.get("recommendation") or {}
    for bound in ("min", "max"):
        value = recommended.get(f"{bound}_provisioned_concurrency")
        families.add("certify_recommended_concurrency", value, bound)
    families.add("certify_capacity_rps", recommended.get("capacity_rps"))
    return families.registry()


def _seconds(ms: object) -> float | None:
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return ms / 1000
    return None


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def check_pushgateway_url(url: str) -> str:
    """``url`` if it names a Pushgateway as ``http://HOST:PORT`` (or https, with an optional
    path prefix); a UsageError saying what is accepted otherwise."""
    expected = "expected http://HOST:PORT (or https://, optionally with a path)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--pushgateway: {expected} but got pushgateway={url!r}: {exc}") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"--pushgateway: {expected} but got pushgateway={url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError(
            f"--pushgateway: {expected}, with no query, fragment or credentials, "
            f"but got pushgateway={url!r}"
        )
    if port == 0:
        raise UsageError(f"--pushgateway: {expected} but got port 0 in pushgateway={url!r}")
    return url.rstrip("/")


def check_textfile(path: Path) -> Path:
    """``path`` if a textfile can be written there: its folder exists, and it is not a
    folder itself. Checked before a run, so a long run is not lost to a typo."""
    if path.is_dir():
        raise UsageError(f"--prometheus-textfile: {path} is a folder; expected a file path")
    if not path.parent.is_dir():
        raise UsageError(
            f"--prometheus-textfile: {path}: its folder {path.parent} does not exist "
            "(node_exporter's --collector.textfile.directory, for instance)"
        )
    return path


def write_textfile(registry: CollectorRegistry, path: Path) -> Path:
    """The metrics in Prometheus text format at ``path``, replaced atomically."""
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise ExportError(f"could not write metrics to {path}: {exc.strerror or exc}") from exc
    return path


def push_metrics(
    registry: CollectorRegistry,
    url: str,
    grouping_key: Mapping[str, str],
    *,
    timeout_s: float = PUSH_TIMEOUT_S,
) -> str:
    """PUT the metrics to the Pushgateway at ``url`` under job ``serving_chaos`` and
    ``grouping_key`` (replacing that group's previous metrics); returns the group's path."""
    group = "".join(f"/{key}/{value}" for key, value in grouping_key.items())
    try:
        push_to_gateway(
            url, job=JOB, registry=registry, grouping_key=dict(grouping_key), timeout=timeout_s
        )
    except urllib.error.HTTPError as exc:
        body = _body(exc)
        raise ExportError(
            f"the Pushgateway at {url} refused the metrics: HTTP {exc.code} {exc.reason}"
            + (f": {body}" if body else "")
        ) from exc
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"could not push metrics to the Pushgateway at {url} "
            f"(caused by {transport_cause(exc, timeout_s)})"
        ) from exc
    return f"/metrics/job/{JOB}{group}"


def _body(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read().decode("utf-8", "replace").strip()[:200]
    except OSError:
        return ""
