"""The verdict in a terminal: a table of budgets, and why each failed one failed."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.scenario.budgets import format_limit
from harness.verdict.results import RunResult

__all__ = [
    "aborted_line",
    "explain_failures",
    "hop_lines",
    "incident_lines",
    "print_verdict",
    "render_text",
    "verdict_table",
]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"


def verdict_table(result: RunResult) -> Table:
    verdict = "PASS" if result.passed else "FAIL"
    if result.aborted is not None:
        verdict += f" (aborted at t={result.aborted['at_s']:.1f}s)"
    title = Text(f"{result.scenario} [{result.backend}]: {verdict}")
    table = Table(title=title, title_justify="left")
    for column in ("budget", "phase", "observed", "limit", "result"):
        table.add_column(column, justify="right" if column in {"observed", "limit"} else "left")
    for item in result.budgets:
        budget = item.budget
        status = Text("pass", style="green") if item.passed else Text("FAIL", style="bold red")
        table.add_row(
            Text(budget.label),
            Text(budget.phase),
            _fmt(item.observed),
            f"{budget.op} {format_limit(budget.limit)}",
            status,
        )
    return table


def explain_failures(result: RunResult) -> list[str]:
    """Why the verdict is FAIL: expected vs observed per phase, errors by class, where it broke."""
    lines: list[str] = []
    if result.aborted is not None:
        lines.append(aborted_line(result.aborted))
    if not result.valid:
        lines.extend(f"invalid run: {note}" for note in result.notes)
    lines.extend(
        f"{name} died at t={t:.1f}s with no fault to explain it"
        for name, t in result.deaths.items()
    )
    for item in result.failed_budgets:
        budget = item.budget
        observed = _fmt(item.observed) if item.note == "" else item.note
        line = f"{budget.label} [{budget.phase}]: expected {budget.expression}, observed {observed}"
        phase = result.phases.get(budget.phase)
        if phase is not None and phase.errors:
            line += f"; errors by class {phase.errors_by_class()}"
        second = result.first_bad_second(item)
        if second is not None:
            line += f"; first broken at t={second}s"
        lines.append(line)
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def incident_lines(result: RunResult, context: int = 2) -> list[str]:
    """The replay against its source: the verdict, then the seconds in and around the windows
    where either broke its baseline, source and replay side by side (* marks a broken second);
    every second is in results.json and the report."""
    found = result.incident
    if found is None:
        return []
    rows = found["seconds"]
    bad = {
        i for i, row in enumerate(rows) if row["source"]["anomalous"] or row["replay"]["anomalous"]
    }
    shown = sorted(
        {i + d for i in bad for d in range(-context, context + 1)} & set(range(len(rows)))
    )
    lines = [found["summary"]]
    if not shown:
        return lines
    lines.append(f"{'t':>5}  {'source err':>10} {'p99 ms':>8}  {'replay err':>10} {'p99 ms':>8}")
    previous = None
    for i in shown:
        if previous is not None and i != previous + 1:
            lines.append(f"{'...':>5}")
        source, replay = rows[i]["source"], rows[i]["replay"]
        lines.append(
            f"{i:>5}  {_share(source['error_rate']):>10} {_ms(source['p99_ms']):>8}"
            f"{'*' if source['anomalous'] else ' '} {_share(replay['error_rate']):>10} "
            f"{_ms(replay['p99_ms']):>8}{'*' if replay['anomalous'] else ''}"
        )
        previous = i
    return lines


def aborted_line(aborted: dict[str, Any]) -> str:
    """Why a run stopped early: the abort_on_fail budget that broke, when, and with what."""
    return (
        f"aborted at t={aborted['at_s']:.1f}s: {aborted['budget']} [{aborted['phase']}] broke "
        f"with {_fmt(aborted['observed'])} (abort_on_fail, judged from "
        f"t={aborted['delay_abort_s']:g}s on); load and faults were stopped and every budget "
        "judged on what was measured until then"
    )


def render_text(result: RunResult, width: int = 110) -> str:
    """The verdict as plain text, for pytest failure messages and logs."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None, emoji=False)
    console.print(verdict_table(result))
    for line in explain_failures(result):
        console.print(line, markup=False)
    for line in incident_lines(result):
        console.print(line, markup=False)
    return console.export_text()


def print_verdict(result: RunResult, console: Console) -> None:
    console.print(verdict_table(result))
    summary = result.phases["overall"].summary()
    console.print(
        f"requests {summary['requests']}  errors {summary['errors']} "
        f"({summary['error_rate']:.2%})  p50 {_fmt(summary['p50_ms'])} ms  "
        f"p90 {_fmt(summary['p90_ms'])} ms  p99 {_fmt(summary['p99_ms'])} ms  "
        f"throughput {_fmt(summary['throughput_rps'])} req/s  "
        f"max queue {_fmt(summary['max_queue_depth'])}",
        markup=False,
    )
    for line in hop_lines(result):
        console.print(line, markup=False)
    for line in explain_failures(result):
        console.print(Text(line, style="red"))
    for line in incident_lines(result):
        console.print(line, markup=False)


def hop_lines(result: RunResult) -> list[str]:
    """One line per dependency (its calls, calls per request, answers) and the client's hop."""
    lines = []
    for name, seen in result.dependencies.items():
        if seen.get("calls") is None:
            lines.append(f"dependency {name}: no metrics")
            continue
        statuses = " ".join(f"{code}x{n}" for code, n in seen["statuses"].items()) or "-"
        line = (
            f"dependency {name}: {seen['calls']} calls, "
            f"{_fmt(seen['calls_per_request'])} per request, answers {statuses}"
        )
        if seen.get("unmatched"):
            line += f", {seen['unmatched']} unmatched"
        if seen.get("faults_injected"):
            line += f", faults {seen['faults_injected']}"
        lines.append(line)
    client = result.client
    if client is not None:
        measures = client["measures"]
        shown = ", ".join(
            f"{name} {_fmt(value)}" for name, value in measures.items()
            if value is not None and not name.startswith("endpoint.status_")
        )  # fmt: skip
        lines.append(
            f"client {client['callable']}: {client['calls']} calls"
            + (f" ({client['dropped']} dropped beyond max_in_flight)" if client["dropped"] else "")
            + f"; {shown}"
        )
        for failure, messages in client["failures"].items():
            lines.append(f"client failures {failure}: {' | '.join(messages)}")
    hop = result.endpoint_hop
    if hop is not None and hop.get("requests") is not None:
        statuses = " ".join(f"{code}x{n}" for code, n in hop["statuses"].items()) or "-"
        lines.append(
            f"client hop: {hop['requests']} requests on {hop['connections']} connections, "
            f"answers {statuses}, faults {hop['faults_injected'] or '-'}"
        )
    return lines
