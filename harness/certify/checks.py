"""The readiness checks, each run on one running system from a scenario template: baseline,
capacity (a bounded rate search), concurrency (a closed-loop sweep), surge, dependencies and
restart. Each gives a verdict, the numbers that decided it, and its evidence."""

from __future__ import annotations

import asyncio
import json
import math
import string
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from harness.certify.spec import ReadinessSpec
from harness.loadgen.engine import Plan
from harness.loadgen.ray_shards import Workers
from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Constant
from harness.loadgen.worker import run_plan
from harness.run.load import target_for
from harness.run.runner import run_on
from harness.run.sampler import parse_gauges
from harness.scenario import Scenario, parse_scenario
from harness.system.loopback import DIRECT, fetch
from harness.system.topology import Topology
from harness.verdict.phases import phase_stats
from harness.verdict.results import RunResult

__all__ = ["Certifier", "CheckResult", "template_text"]

_PROVISIONED = "serving_provisioned_concurrency"
# A concurrency step that adds less than this much throughput is past the knee.
_GROWTH = 1.10


@dataclass(slots=True)
class CheckResult:
    """One check: passed (None when it does not apply), the line that says why, the numbers,
    and the budgets of every run it made."""

    name: str
    passed: bool | None
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": "n/a" if self.passed is None else "pass" if self.passed else "fail",
            "summary": self.summary,
            "numbers": self.numbers,
            "curve": self.curve,
            "budgets": self.budgets,
        }


def template_text(name: str) -> str:
    """The shipped template of check ``name`` (also under suites/readiness/ in a checkout)."""
    return resources.files("harness.certify").joinpath("templates", f"{name}.yaml").read_text()


class Certifier:
    """Runs the checks of ``spec`` on ``topology``, in order, telling ``say`` as it goes."""

    def __init__(
        self,
        spec: ReadinessSpec,
        topology: Topology,
        say: Callable[[str], None],
        workers: Workers | None = None,
    ) -> None:
        self.spec = spec
        self.topology = topology
        self.say = say
        # Ray shards send each check's open-loop load; the capacity sweep's closed loop stays
        # in this process.
        self.workers = workers
        self.baseline: RunResult | None = None
        self.capacity_rps: float | None = None
        self.knee: int | None = None

    # --- scenarios from templates ---------------------------------------------------------

    def scenario(self, template: str, **values: Any) -> Scenario:
        goal = self.spec.goal
        filled = {
            "target_qps": _num(goal.target_qps),
            "p99_ms": _num(goal.p99_ms),
            "error_rate": _num(goal.error_rate),
            "degraded_error_rate": _num(goal.degraded_error_rate),
            "recovery_s": _num(goal.recovery_s),
            "timeout_s": _num(max(goal.p99_ms / 1000.0 * 10, 5.0)),
            **{
                key: _num(value) if isinstance(value, float) else value
                for key, value in values.items()
            },
        }
        text = string.Template(template_text(template)).substitute(filled)
        doc = yaml.safe_load(text)
        for fault in doc.get("faults", []):
            # A template writes every fault's attributes; a down fault has none.
            if fault.get("attributes") == {}:
                del fault["attributes"]
        doc.update(self.spec.system)
        return parse_scenario(
            yaml.safe_dump(doc, sort_keys=False), source=f"readiness/{template}.yaml"
        )

    def _run(self, scenario: Scenario) -> RunResult:
        self.say(
            f"  {scenario.name}: {scenario.load.rate:g} req/s for {scenario.load.duration_s:g}s"
        )
        return run_on(self.topology, scenario, workers=self.workers)

    # --- the checks ------------------------------------------------------------------------

    def run_baseline(self) -> CheckResult:
        goal = self.spec.goal
        low = max(1.0, round(goal.target_qps / 10, 1))
        result = self._run(
            self.scenario("baseline", low_rate=low, duration_s=self.spec.profile.baseline_s)
        )
        self.baseline = result
        overall = result.phases["overall"]
        numbers = {
            "rate": low,
            "p50_ms": overall.value("p50_ms"),
            "p99_ms": overall.value("p99_ms"),
            "mean_ms": _mean_ms(result),
            "error_rate": overall.value("error_rate"),
        }
        passed = result.passed and _within_p50(goal.p50_ms, numbers["p50_ms"])
        return CheckResult(
            "baseline",
            passed,
            f"at {low:g} req/s: p50 {_ms(numbers['p50_ms'])}, p99 {_ms(numbers['p99_ms'])}, "
            f"error rate {numbers['error_rate']}",
            numbers,
            budgets=_budgets(result),
        )

    def run_capacity(self) -> CheckResult:
        goal, profile = self.spec.goal, self.spec.profile
        curve: list[dict[str, Any]] = []

        def holds(rate: float) -> bool:
            result = self._run(self.scenario("capacity", rate=rate, duration_s=profile.probe_s))
            overall = result.phases["overall"]
            ok = result.passed
            curve.append(
                {
                    "rate": rate,
                    "p50_ms": overall.value("p50_ms"),
                    "p99_ms": overall.value("p99_ms"),
                    "error_rate": overall.value("error_rate"),
                    "throughput_rps": overall.value("throughput_rps"),
                    "valid": result.valid,
                    "holds": ok,
                }
            )
            return ok

        # Coarse steps up from half the target, doubling, at most to 8x; then bisection.
        low, high = 0.0, None
        rate = max(1.0, goal.target_qps / 2)
        while rate <= goal.target_qps * 8:
            if holds(rate):
                low = rate
                rate *= 2
            else:
                high = rate
                break
        for _ in range(profile.bisections if high is not None else 0):
            middle = round((low + high) / 2, 1)  # type: ignore[operator]
            if middle in (low, high):
                break
            if holds(middle):
                low = middle
            else:
                high = middle
        self.capacity_rps = low or None
        passed = low >= goal.target_qps
        ceiling = "" if high is None else f", broke at {high:g} req/s"
        return CheckResult(
            "capacity",
            passed,
            f"highest rate within p99 <= {goal.p99_ms:g} ms and error rate <= "
            f"{goal.error_rate:g}: {low:g} req/s{ceiling} (target {goal.target_qps:g})",
            {"capacity_rps": low, "first_failing_rps": high, "target_qps": goal.target_qps},
            sorted(curve, key=lambda point: point["rate"]),
        )

    def run_concurrency(self) -> CheckResult:
        goal, profile = self.spec.goal, self.spec.profile
        scenario = self.scenario("capacity", rate=goal.target_qps, duration_s=profile.sweep_s)
        curve: list[dict[str, Any]] = []
        best = 0.0
        knee = 1
        users = 1
        while users <= profile.max_concurrency:
            self.say(f"  closed loop, {users} users for {profile.sweep_s:g}s")
            point = asyncio.run(_closed_loop(self.topology, scenario, users, profile.sweep_s))
            curve.append(point)
            throughput = point["throughput_rps"] or 0.0
            over = point["p99_ms"] is not None and point["p99_ms"] > goal.p99_ms
            if throughput >= best * _GROWTH and not over:
                knee = users
            if throughput < best * _GROWTH or over:
                break
            best = max(best, throughput)
            users *= 2
        self.knee = knee
        mean_ms = _mean_ms(self.baseline) if self.baseline is not None else None
        required = None if mean_ms is None else math.ceil(goal.target_qps * mean_ms / 1000.0)
        provisioned = _provisioned(self.topology)
        numbers = {
            "knee_concurrency": knee,
            "knee_throughput_rps": max((p["throughput_rps"] or 0.0) for p in curve),
            "required_concurrency": required,
            "baseline_mean_ms": mean_ms,
            "provisioned_concurrency": provisioned,
        }
        passed = required is None or provisioned is None or provisioned >= required
        return CheckResult(
            "concurrency",
            passed,
            f"throughput stops growing at {knee} concurrent requests "
            f"({numbers['knee_throughput_rps']:.1f} req/s); target x mean latency needs "
            f"{required if required is not None else '-'}; provisioned "
            f"{provisioned if provisioned is not None else 'not exposed'}",
            numbers,
            curve,
        )

    def run_surge(self) -> CheckResult:
        profile = self.spec.profile
        window = max(profile.surge_s / 3, 2.0)
        numbers: dict[str, Any] = {}
        budgets: list[dict[str, Any]] = []
        passed = True
        for factor in (2, 4):
            result = self._run(
                self.scenario(
                    "surge",
                    factor=factor,
                    duration_s=profile.surge_s,
                    start_s=round(profile.surge_s / 4, 1),
                    window_s=round(window, 1),
                )
            )
            during = result.phases["during:surge"]
            classes = result.phases["overall"].errors_by_class()
            fivexx = sum(n for c, n in classes.items() if c.isdigit() and c.startswith("5"))
            others = {c: n for c, n in classes.items() if c != "429"}
            ok = result.passed and not others
            numbers[f"x{factor}"] = {
                "429": classes.get("429", 0),
                "5xx": fivexx,
                "other_errors": others,
                "max_queue_depth": during.value("max_queue_depth"),
                "p99_ms": during.value("p99_ms"),
                "recovery_time_s": _recovery(result),
            }
            budgets += _budgets(result)
            passed = passed and ok
        return CheckResult(
            "surge",
            passed,
            "2x and 4x the target: "
            + "; ".join(
                f"{name}: {n['429']} shed with 429, {n['5xx']} 5xx, "
                f"queue peak {n['max_queue_depth'] if n['max_queue_depth'] is not None else '-'}, "
                f"back in {_seconds(n['recovery_time_s'])}"
                for name, n in numbers.items()
            ),
            numbers,
            budgets=budgets,
        )

    def run_dependencies(self) -> CheckResult:
        profile = self.spec.profile
        cases = (
            ("slow", "latency", "{latency: 200, jitter: 0}"),
            ("failing", "abort", "{status: 503, percentage: 50}"),
            ("outage", "down", "{}"),
        )
        numbers: dict[str, Any] = {}
        budgets: list[dict[str, Any]] = []
        passed = True
        for dependency in self.spec.dependency_names:
            for kind, fault_type, attributes in cases:
                result = self._run(
                    self.scenario(
                        "dependency",
                        dependency=dependency,
                        kind=kind,
                        fault_type=fault_type,
                        attributes=attributes if fault_type != "down" else "{}",
                        duration_s=profile.dependency_s,
                        start_s=round(profile.dependency_s / 4, 1),
                        window_s=round(profile.dependency_s / 2, 1),
                    )
                )
                during = result.phases[f"during:{kind}"]
                numbers[f"{dependency}:{kind}"] = {
                    "error_rate": during.value("error_rate"),
                    "p99_ms": during.value("p99_ms"),
                    "recovery_time_s": _recovery(result),
                    "passed": result.passed,
                }
                budgets += _budgets(result)
                passed = passed and result.passed
        return CheckResult(
            "dependencies",
            passed,
            "; ".join(
                f"{case}: error rate {n['error_rate']}, p99 {_ms(n['p99_ms'])}, "
                f"back in {_seconds(n['recovery_time_s'])}"
                for case, n in numbers.items()
            ),
            numbers,
            budgets=budgets,
        )

    def run_restart(self) -> CheckResult:
        if self.topology.system.kind == "url":
            return CheckResult("restart", None, "the target runs elsewhere: nothing to restart")
        profile = self.spec.profile
        result = self._run(
            self.scenario(
                "restart",
                duration_s=profile.restart_s,
                start_s=round(profile.restart_s / 4, 1),
                window_s=1.0,
            )
        )
        recovery = _recovery(result)
        killed = result.phases["during:killed"]
        numbers = {
            "recovery_time_s": recovery,
            "errors_while_down": killed.errors,
            "errors_by_class": result.phases["overall"].errors_by_class(),
        }
        return CheckResult(
            "restart",
            result.passed and recovery is not None,
            f"killed and restarted: back within the baseline after {_seconds(recovery)}, "
            f"{killed.errors} calls failed while it was down",
            numbers,
            budgets=_budgets(result),
        )

    def run_cold_start(self) -> CheckResult:
        """After enough idle time to scale to zero, the time one call takes to be answered."""
        idle = self._idle_s()
        if idle is None:
            return CheckResult(
                "cold_start",
                None,
                "the target does not scale to zero (reference endpoint: min_concurrency > 0; "
                "a target of your own: give cold_start.idle_s in the spec)",
            )
        self.say(f"  idle for up to {idle:g}s, until it scales to zero")
        waited, reached = _wait_for_zero(self.topology, idle)
        seconds, status = _first_answer(self.topology, self.spec.goal)
        limit = self.spec.goal.cold_start_s
        answered = status is not None and status < 400
        # A target that says it scaled to zero and did not is not certified on this check.
        passed = answered and reached is not False and (limit is None or seconds <= limit)
        numbers = {
            "idle_s": round(waited, 2),
            "scaled_to_zero": reached,
            "first_answer_s": round(seconds, 3),
            "status": status,
            "limit_s": limit,
        }
        told = "" if limit is None else f" (goal {limit:g}s)"
        return CheckResult(
            "cold_start",
            passed,
            f"after {waited:.1f}s idle"
            f"{' (still not at zero units)' if reached is False else ''} the first call took "
            f"{seconds:.2f}s"
            f"{told}, answered {status if status is not None else 'nothing'}",
            numbers,
        )

    def _idle_s(self) -> float | None:
        if self.spec.idle_s is not None:
            return self.spec.idle_s
        scenario = self.spec.scenario
        if scenario is None or scenario.target is not None:
            return None
        endpoint = scenario.endpoint
        if endpoint.lowest_concurrency != 0:
            return None
        # Idle long enough to be scaled in: a stable window for the autoscaler to see it, and
        # a reaction delay for each of its two steps down (to one unit, then to none).
        return (
            endpoint.scale_to_zero_idle_s
            + endpoint.scale_stable_window_s
            + 2 * endpoint.scale_reaction_delay_s
            + 2.0
        )


def _wait_for_zero(topology: Topology, idle_s: float) -> tuple[float, bool | None]:
    """Wait until the endpoint reports no provisioned concurrency, at most ``idle_s``: the
    seconds waited, and whether it got there (None where it does not say)."""
    started = time.monotonic()
    deadline = started + idle_s
    seen = _provisioned(topology)
    while seen != 0 and time.monotonic() < deadline:
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0.0)))
        seen = _provisioned(topology)
    return time.monotonic() - started, None if seen is None else seen == 0


def _first_answer(topology: Topology, goal: Any) -> tuple[float, int | None]:
    body = json.dumps({"dataframe_records": [{"entity_id": "user-0", "amount": 1.0}]}).encode()
    request = urllib.request.Request(
        topology.invocations_url, data=body, headers={"Content-Type": "application/json"}
    )
    started = time.monotonic()
    timeout = max(goal.p99_ms / 1000.0 * 10, 60.0)
    try:
        with DIRECT.open(request, timeout=timeout) as response:
            response.read()
            status: int | None = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = None
    return time.monotonic() - started, status


async def _closed_loop(
    topology: Topology, scenario: Scenario, users: int, seconds: float
) -> dict[str, Any]:
    recorder = Recorder()
    target = target_for(topology.invocations_url, scenario.load)
    plan = Plan(target, Constant(1.0, seconds), concurrency=users, engine="aiohttp")
    await run_plan(plan, recorder, time.monotonic() + 0.05)
    overall = phase_stats(recorder, seconds)["overall"]
    return {
        "concurrency": users,
        "throughput_rps": overall.value("throughput_rps"),
        "p50_ms": overall.value("p50_ms"),
        "p99_ms": overall.value("p99_ms"),
        "error_rate": overall.value("error_rate"),
    }


def _provisioned(topology: Topology, *, tries: int = 3) -> float | None:
    """The endpoint's provisioned-concurrency gauge; None when it exposes none. A scrape that
    fails (an endpoint still draining a sweep's queue) is tried again before saying so."""
    url = topology.metrics_url
    if url is None:
        return None
    for attempt in range(tries):
        if attempt:
            time.sleep(0.5)
        body = fetch(url, timeout_s=5.0)
        if body is None:
            continue
        try:
            gauges = parse_gauges(body.decode(), frozenset({_PROVISIONED}))
        except ValueError:
            return None
        return gauges.get(_PROVISIONED)
    return None


def _recovery(result: RunResult) -> float | None:
    """What the run's ``recovery_time_s`` budget observed (None: never recovered)."""
    found = next((r for r in result.budgets if r.budget.metric == "recovery_time_s"), None)
    return None if found is None else found.observed


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"


def _budgets(result: RunResult) -> list[dict[str, Any]]:
    return [{"scenario": result.scenario, **item.to_json()} for item in result.budgets]


def _mean_ms(result: RunResult | None) -> float | None:
    if result is None:
        return None
    tally = result.phases["overall"].tally
    return round(tally.latency.get_mean_value() / 1000.0, 3) if tally.requests else None


def _within_p50(goal: float | None, observed: float | None) -> bool:
    return goal is None or (observed is not None and observed <= goal)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _num(value: float) -> str:
    return json.dumps(value)
