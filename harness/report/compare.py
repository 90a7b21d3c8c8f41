"""Two runs of one scenario side by side, before and after a change: every budget, and every
phase's latency percentiles, error rate and throughput, with the difference and whether the
candidate regressed beyond a tolerance. Read from two results.json files; written to the
terminal, compare.json and compare.html."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import UsageError

__all__ = [
    "PHASE_METRICS",
    "BudgetDelta",
    "BudgetRecord",
    "Comparison",
    "MetricDelta",
    "PhaseMetric",
    "RunData",
    "Tolerance",
    "budget_table",
    "compare_runs",
    "comparison_lines",
    "judge_metric",
    "load_run",
    "parse_tolerance",
    "phase_table",
    "print_comparison",
    "write_comparison",
]


@dataclass(frozen=True, slots=True)
class PhaseMetric:
    """A phase figure compared between runs: its key in results.json, which way is worse, and
    its unit as shown."""

    key: str
    higher_is_worse: bool
    unit: str


PHASE_METRICS = (
    PhaseMetric("p50_ms", True, "ms"),
    PhaseMetric("p90_ms", True, "ms"),
    PhaseMetric("p99_ms", True, "ms"),
    PhaseMetric("max_ms", True, "ms"),
    PhaseMetric("error_rate", True, ""),
    PhaseMetric("throughput_rps", False, "req/s"),
)
# Differences of floating-point values this close to the tolerance count as within it.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How much worse the candidate may be before it counts as a regression: ``relative`` of
    the baseline's value (0.1 is 10 %). A difference within the absolute floor of its kind is
    never a regression, so tiny values do not turn noise into large percentages (an error rate
    of 0 -> 0.0005 is not "+inf %", a p50 of 2.0 -> 2.6 ms is not "+30 %")."""

    relative: float = 0.10
    latency_floor_ms: float = 1.0
    error_rate_floor: float = 0.001
    throughput_floor_rps: float = 1.0

    def floor(self, metric: str) -> float:
        if metric.endswith("_ms"):
            return self.latency_floor_ms
        if metric == "error_rate":
            return self.error_rate_floor
        return self.throughput_floor_rps

    def describe(self) -> str:
        return (
            f"{self.relative:.0%} tolerance; never below {self.latency_floor_ms:g} ms of "
            f"latency, {self.error_rate_floor:g} of error rate or "
            f"{self.throughput_floor_rps:g} req/s of throughput"
        )

    def to_json(self) -> dict[str, float]:
        return {
            "relative": self.relative,
            "latency_floor_ms": self.latency_floor_ms,
            "error_rate_floor": self.error_rate_floor,
            "throughput_floor_rps": self.throughput_floor_rps,
        }


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` as the fraction 0.1. A bare number above 1 is refused (``10``
    more likely means 10 % than 1000 %): write ``200%`` for a tolerance that wide."""
    cleaned = text.strip()
    percent = cleaned.endswith("%")
    try:
        value = float(cleaned.removesuffix("%").strip())
    except ValueError:
        value = math.nan
    if percent:
        value /= 100
    if not math.isfinite(value) or value < 0 or (value > 1 and not percent):
        raise UsageError(
            "--tolerance: expected a percentage such as 10% or a fraction from 0 to 1 such "
            f"as 0.1 but got tolerance={text!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class BudgetRecord:
    """One budget of a run as results.json has it."""

    name: str
    phase: str
    expression: str
    op: str
    observed: float | None
    passed: bool


@dataclass(frozen=True, slots=True)
class RunData:
    """What a comparison reads of one run's results.json, checked when it is loaded so a
    malformed file is refused naming the file and the field."""

    path: Path
    scenario: str
    backend: str
    started_at: str
    passed: bool
    valid: bool
    notes: tuple[str, ...]
    budgets: tuple[BudgetRecord, ...]
    phases: dict[str, dict[str, float | None]]
    # Per second from the intended start: (t, p99 ms) where the second had answers.
    p99_series: tuple[tuple[float, float], ...] = ()
    # Each fault applied: (name, actual start s, actual end s or None while it never ended).
    faults: tuple[tuple[str, float, float | None], ...] = ()

    def brief(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "scenario": self.scenario,
            "backend": self.backend,
            "started_at": self.started_at,
            "passed": self.passed,
            "valid": self.valid,
            "notes": list(self.notes),
        }


def load_run(path: Path) -> RunData:
    """A run's results: ``path`` is its report folder (holding results.json) or the file."""
    if path.is_dir():
        file = path / "results.json"
        if not file.is_file():
            raise UsageError(
                f"{path}: no results.json in this folder (expected the --report-dir of a "
                "`serving-chaos run`, or a results.json file)"
            )
    elif path.exists():
        file = path
    else:
        raise UsageError(f"{path}: no such folder or file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{file}: cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file}: not a results.json: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}: not valid JSON: {exc}") from exc
    return _Reader(file).run(data)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Checks the parts of results.json a comparison reads; errors name the file and field."""

    file: Path

    def error(self, where: str, expected: str, found: object) -> UsageError:
        shown = json.dumps(found)[:80] if _jsonable(found) else repr(found)[:80]
        return UsageError(
            f"{self.file}: not a serving-chaos results.json: {where}: expected {expected} but "
            f"got {shown}"
        )

    def run(self, data: object) -> RunData:
        if not isinstance(data, dict):
            raise self.error("the document", "an object", type(data).__name__)
        for key in ("scenario", "phases", "budgets"):
            if key not in data:
                raise self.error(key, "this key (scenario, phases and budgets)", None)
        phases = self.mapping(data["phases"], "phases")
        return RunData(
            path=self.file,
            scenario=self.text(data["scenario"], "scenario"),
            backend=self.text(data.get("backend", "?"), "backend"),
            started_at=self.text(data.get("started_at", ""), "started_at"),
            passed=self.flag(data.get("passed", False), "passed"),
            valid=self.flag(data.get("valid", True), "valid"),
            notes=tuple(str(note) for note in self.items(data.get("notes", []), "notes")),
            budgets=tuple(
                self.budget(item, f"budgets[{index}]")
                for index, item in enumerate(self.items(data["budgets"], "budgets"))
            ),
            phases={name: self.phase(stats, f"phases.{name}") for name, stats in phases.items()},
            p99_series=self.series(data.get("timeline", [])),
            faults=self.faults(data.get("faults", [])),
        )

    def budget(self, raw: object, where: str) -> BudgetRecord:
        doc = self.mapping(raw, where)
        name = self.text(doc.get("name"), f"{where}.name")
        return BudgetRecord(
            name=name,
            phase=self.text(doc.get("phase", "overall"), f"{where}.phase"),
            expression=self.text(doc.get("expression", name), f"{where}.expression"),
            op=self.text(doc.get("op", ""), f"{where}.op"),
            observed=self.number(doc.get("observed"), f"{where}.observed"),
            passed=self.flag(doc.get("passed"), f"{where}.passed"),
        )

    def phase(self, raw: object, where: str) -> dict[str, float | None]:
        doc = self.mapping(raw, where)
        return {m.key: self.number(doc.get(m.key), f"{where}.{m.key}") for m in PHASE_METRICS}

    def series(self, raw: object) -> tuple[tuple[float, float], ...]:
        points = []
        for index, item in enumerate(self.items(raw, "timeline")):
            row = self.mapping(item, f"timeline[{index}]")
            t = self.number(row.get("t"), f"timeline[{index}].t")
            p99 = self.number(row.get("p99_ms"), f"timeline[{index}].p99_ms")
            if t is not None and p99 is not None:
                points.append((t, p99))
        return tuple(points)

    def faults(self, raw: object) -> tuple[tuple[str, float, float | None], ...]:
        windows = []
        for index, item in enumerate(self.items(raw, "faults")):
            where = f"faults[{index}]"
            doc = self.mapping(item, where)
            start = self.number(doc.get("actual_start_s"), f"{where}.actual_start_s")
            end = self.number(doc.get("actual_end_s"), f"{where}.actual_end_s")
            if start is not None:
                windows.append((self.text(doc.get("name", "?"), f"{where}.name"), start, end))
        return tuple(windows)

    def mapping(self, raw: object, where: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(where, "an object", raw)
        return raw

    def items(self, raw: object, where: str) -> list[Any]:
        if not isinstance(raw, list):
            raise self.error(where, "a list", raw)
        return raw

    def text(self, raw: object, where: str) -> str:
        if not isinstance(raw, str):
            raise self.error(where, "a string", raw)
        return raw

    def flag(self, raw: object, where: str) -> bool:
        if not isinstance(raw, bool):
            raise self.error(where, "true or false", raw)
        return raw

    def number(self, raw: object, where: str) -> float | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self.error(where, "a number or null", raw)
        return float(raw)


def _jsonable(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One phase figure in both runs and whether the candidate is worse beyond tolerance."""

    phase: str
    metric: str
    baseline: float | None
    candidate: float | None
    regressed: bool
    note: str = ""

    @property
    def difference(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline

    @property
    def relative(self) -> float | None:
        """The difference as a fraction of the baseline; None where the baseline is 0."""
        if self.baseline is None or self.candidate is None or self.baseline == 0:
            return None
        return (self.candidate - self.baseline) / abs(self.baseline)

    def describe(self) -> str:
        unit = _unit(self.metric)
        relative = self.relative
        change = f" ({relative:+.1%})" if relative is not None else ""
        return (
            f"{self.metric} [{self.phase}]: {_fmt(self.baseline)} -> "
            f"{_fmt(self.candidate)}{unit}{change}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "difference": _rounded(self.difference),
            "relative": _rounded(self.relative),
            "regressed": self.regressed,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class BudgetDelta:
    """One budget (matched by name and phase) in both runs. It regressed when it held in the
    baseline and broke in the candidate, whatever the tolerance."""

    name: str
    phase: str
    expression: str
    baseline: BudgetRecord | None
    candidate: BudgetRecord | None

    @property
    def regressed(self) -> bool:
        if self.baseline is None or self.candidate is None:
            return False
        return self.baseline.passed and not self.candidate.passed

    @property
    def difference(self) -> float | None:
        before = self.baseline.observed if self.baseline else None
        after = self.candidate.observed if self.candidate else None
        return None if before is None or after is None else after - before

    @property
    def outcome(self) -> str:
        """pass, FAIL, fixed, still failing, or which run alone has it."""
        if self.baseline is None or self.candidate is None:
            return "only in candidate" if self.baseline is None else "only in baseline"
        if self.regressed:
            return "pass -> FAIL"
        if self.candidate.passed:
            return "pass" if self.baseline.passed else "fixed"
        return "still failing"

    @property
    def note(self) -> str:
        if (
            self.baseline
            and self.candidate
            and self.baseline.expression != self.candidate.expression
        ):
            return f"expression changed: {self.baseline.expression} -> {self.candidate.expression}"
        return ""

    def describe(self) -> str:
        before = self.baseline.observed if self.baseline else None
        after = self.candidate.observed if self.candidate else None
        return (
            f"budget {self.expression} [{self.phase}]: held in the baseline "
            f"({_fmt(before)}), broken in the candidate ({_fmt(after)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "expression": self.expression,
            "baseline_observed": self.baseline.observed if self.baseline else None,
            "candidate_observed": self.candidate.observed if self.candidate else None,
            "difference": _rounded(self.difference),
            "baseline_passed": self.baseline.passed if self.baseline else None,
            "candidate_passed": self.candidate.passed if self.candidate else None,
            "outcome": self.outcome,
            "regressed": self.regressed,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Baseline and candidate side by side, judged with one tolerance."""

    baseline: RunData
    candidate: RunData
    tolerance: Tolerance
    budgets: tuple[BudgetDelta, ...]
    phases: tuple[MetricDelta, ...]
    forced: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressions(self) -> list[BudgetDelta | MetricDelta]:
        found: list[BudgetDelta | MetricDelta] = [b for b in self.budgets if b.regressed]
        found.extend(delta for delta in self.phases if delta.regressed)
        return found

    @property
    def valid(self) -> bool:
        """Both runs' numbers can be trusted (the generator kept its schedule, no harness
        service died): otherwise their differences mean nothing."""
        return self.baseline.valid and self.candidate.valid

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def verdict(self) -> str:
        if not self.valid:
            return "INVALID"
        return "REGRESSED" if self.regressed else "NO REGRESSION"

    def to_json(self) -> dict[str, Any]:
        phases: dict[str, dict[str, Any]] = {}
        for delta in self.phases:
            phases.setdefault(delta.phase, {})[delta.metric] = delta.to_json()
        return {
            "scenario": self.candidate.scenario,
            "verdict": self.verdict,
            "regressed": self.regressed,
            "valid": self.valid,
            "forced": self.forced,
            "tolerance": self.tolerance.to_json(),
            "baseline": self.baseline.brief(),
            "candidate": self.candidate.brief(),
            "regressions": [item.describe() for item in self.regressions],
            "notes": list(self.notes),
            "budgets": [delta.to_json() for delta in self.budgets],
            "phases": phases,
        }


def compare_runs(
    baseline: RunData, candidate: RunData, tolerance: Tolerance, *, force: bool = False
) -> Comparison:
    """Every budget and every phase figure of ``candidate`` against ``baseline``. Refuses two
    different scenarios unless ``force``."""
    if baseline.scenario != candidate.scenario and not force:
        raise UsageError(
            f"baseline ran scenario {baseline.scenario}, candidate ran {candidate.scenario}: "
            "these are not the same scenario; pass --force to compare anyway"
        )
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        tolerance=tolerance,
        budgets=_budget_deltas(baseline, candidate),
        phases=_phase_deltas(baseline, candidate, tolerance),
        forced=force,
        notes=_notes(baseline, candidate),
    )


def _budget_deltas(baseline: RunData, candidate: RunData) -> tuple[BudgetDelta, ...]:
    before = {(b.name, b.phase): b for b in baseline.budgets}
    after = {(b.name, b.phase): b for b in candidate.budgets}
    keys = list(after) + [key for key in before if key not in after]
    deltas = []
    for key in keys:
        found = after.get(key) or before[key]
        deltas.append(
            BudgetDelta(key[0], key[1], found.expression, before.get(key), after.get(key))
        )
    return tuple(deltas)


def _phase_deltas(
    baseline: RunData, candidate: RunData, tolerance: Tolerance
) -> tuple[MetricDelta, ...]:
    names = list(candidate.phases) + [p for p in baseline.phases if p not in candidate.phases]
    deltas = []
    for phase in names:
        before, after = baseline.phases.get(phase), candidate.phases.get(phase)
        for metric in PHASE_METRICS:
            deltas.append(
                judge_metric(
                    phase,
                    metric,
                    None if before is None else before[metric.key],
                    None if after is None else after[metric.key],
                    tolerance,
                    missing="baseline" if before is None else "candidate" if after is None else "",
                )
            )
    return tuple(deltas)


def judge_metric(
    phase: str,
    metric: PhaseMetric,
    baseline: float | None,
    candidate: float | None,
    tolerance: Tolerance,
    *,
    missing: str = "",
) -> MetricDelta:
    """Regressed: worse than the baseline by more than the absolute floor of its kind and by
    more than ``tolerance.relative`` of the baseline's value."""
    if missing:
        note = f"phase not in the {missing} run"
        return MetricDelta(phase, metric.key, baseline, candidate, False, note)
    if baseline is None or candidate is None:
        which = "baseline" if baseline is None else "candidate"
        return MetricDelta(
            phase, metric.key, baseline, candidate, False, f"not measured in the {which}"
        )
    worse_by = candidate - baseline if metric.higher_is_worse else baseline - candidate
    allowed = max(tolerance.floor(metric.key), tolerance.relative * abs(baseline))
    regressed = worse_by > allowed + _EPSILON * max(abs(baseline), abs(candidate), 1.0)
    return MetricDelta(phase, metric.key, baseline, candidate, regressed)


def _notes(baseline: RunData, candidate: RunData) -> tuple[str, ...]:
    notes = []
    if baseline.scenario != candidate.scenario:
        notes.append(
            f"different scenarios compared (--force): {baseline.scenario} and {candidate.scenario}"
        )
    if baseline.backend != candidate.backend:
        notes.append(
            f"baseline ran on the {baseline.backend} backend, candidate on {candidate.backend}: "
            "part of any difference may be the backend's"
        )
    for role, run in (("baseline", baseline), ("candidate", candidate)):
        if not run.valid:
            why = "; ".join(run.notes) or "see its results.json"
            notes.append(f"the {role} run is invalid, its numbers cannot be trusted: {why}")
    return tuple(notes)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _unit(metric: str) -> str:
    unit = next((m.unit for m in PHASE_METRICS if m.key == metric), "")
    return f" {unit}" if unit else ""


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    return ("+" if value > 0 else "") + _fmt(value)


def _columns(table: Table, names: tuple[str, ...], numeric: set[str]) -> None:
    for name in names:
        if name in numeric:
            table.add_column(name, justify="right", no_wrap=True)
        elif name in {"metric", "result"}:
            table.add_column(name, no_wrap=True)
        else:
            # Phase and budget names have no spaces to wrap at: fold them, never cut them.
            table.add_column(name, overflow="fold")


def budget_table(comparison: Comparison) -> Table:
    table = Table(title="budgets", title_justify="left")
    _columns(
        table,
        ("budget", "phase", "baseline", "candidate", "change", "result"),
        {"baseline", "candidate", "change"},
    )
    for delta in comparison.budgets:
        style = (
            "bold red" if delta.regressed else "green" if delta.outcome in {"pass", "fixed"} else ""
        )
        table.add_row(
            Text(delta.expression),
            Text(delta.phase),
            _fmt(delta.baseline.observed if delta.baseline else None),
            _fmt(delta.candidate.observed if delta.candidate else None),
            _signed(delta.difference),
            Text(delta.outcome, style=style),
        )
    return table


def phase_table(comparison: Comparison) -> Table:
    table = Table(title="phases", title_justify="left")
    _columns(
        table,
        ("phase", "metric", "baseline", "candidate", "change", "result"),
        {"baseline", "candidate", "change"},
    )
    for index, delta in enumerate(comparison.phases):
        result = Text("REGRESSED", style="bold red") if delta.regressed else Text("ok")
        if delta.note:
            result = Text(delta.note, style="yellow")
        relative = delta.relative
        change = _signed(delta.difference)
        if relative:
            change += f" ({relative:+.1%})"
        following = comparison.phases[index + 1 : index + 2]
        first = index == 0 or comparison.phases[index - 1].phase != delta.phase
        table.add_row(
            Text(delta.phase if first else ""),
            Text(delta.metric),
            _fmt(delta.baseline),
            _fmt(delta.candidate),
            change,
            result,
            end_section=bool(following) and following[0].phase != delta.phase,
        )
    return table


def comparison_lines(comparison: Comparison) -> list[str]:
    """The verdict in words: what was compared with what, every regression, every note."""
    base, cand = comparison.baseline, comparison.candidate
    lines = [
        f"{comparison.verdict}: {cand.scenario}: candidate {cand.path} against baseline "
        f"{base.path} ({comparison.tolerance.describe()})"
    ]
    lines.extend(f"regressed: {item.describe()}" for item in comparison.regressions)
    lines.extend(f"note: {note}" for note in comparison.notes)
    return lines


def print_comparison(comparison: Comparison, console: Console) -> None:
    console.print(budget_table(comparison))
    console.print(phase_table(comparison))
    style = "bold green" if comparison.verdict == "NO REGRESSION" else "bold red"
    for index, line in enumerate(comparison_lines(comparison)):
        console.print(
            Text(
                line,
                style=style if index == 0 else "red" if line.startswith("regressed") else "yellow",
            )
        )


def write_comparison(comparison: Comparison, directory: Path) -> tuple[Path, Path]:
    """compare.json and compare.html in ``directory``, created if missing."""
    from harness.report.compare_html import render_compare_html

    json_path, html_path = directory / "compare.json", directory / "compare.html"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
        html_path.write_text(render_compare_html(comparison))
    except OSError as exc:
        raise UsageError(
            f"--report-dir: cannot write {exc.filename or directory}: {exc.strerror or exc}"
        ) from exc
    return json_path, html_path
