"""Verdicts for people: the terminal table, results.json and a self-contained report.html."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.budgets import format_limit
from harness.results import RunResult


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"


def verdict_table(result: RunResult) -> Table:
    verdict = "PASS" if result.passed else "FAIL"
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
    if not result.valid:
        lines.extend(f"invalid run: {note}" for note in result.notes)
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


def render_text(result: RunResult, width: int = 110) -> str:
    """The verdict as plain text, for pytest failure messages and logs."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(verdict_table(result))
    for line in explain_failures(result):
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
    for line in explain_failures(result):
        console.print(Text(line, style="red"))


def write_reports(result: RunResult, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data = result.to_json()
    results_path = directory / "results.json"
    results_path.write_text(json.dumps(data, indent=2) + "\n")
    report_path = directory / "report.html"
    report_path.write_text(render_html(data))
    return results_path, report_path


def _rows(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('-' if v is None else str(v))}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _p99_chart(timeline: list[dict[str, object]], faults: list[dict[str, object]]) -> str:
    """Inline SVG of p99 latency per second with fault windows shaded."""
    points = [(int(str(row["t"])), float(str(row["p99_ms"]))) for row in timeline if row["p99_ms"]]
    if not points:
        return ""
    width, height = 720.0, 200.0
    t_max = max(t for t, _ in points) + 1
    y_max = max(v for _, v in points) * 1.1 or 1.0
    shades = ""
    for fault in faults:
        start = float(str(fault["actual_start_s"]))
        end = float(str(fault["actual_end_s"] or t_max))
        shades += (
            f'<rect x="{start / t_max * width:.1f}" y="0" height="{height}" '
            f'width="{(end - start) / t_max * width:.1f}" fill="#f8d7da">'
            f"<title>{html.escape(str(fault['name']))}</title></rect>"
        )
    path = " ".join(
        f"{(t + 0.5) / t_max * width:.1f},{height - v / y_max * height:.1f}" for t, v in points
    )
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" role="img" aria-label="p99 per second">'
        f'{shades}<polyline fill="none" stroke="#0b5394" stroke-width="2" points="{path}"/>'
        f'<text x="4" y="14" font-size="12">p99 max {y_max / 1.1:.1f} ms</text></svg>'
    )


def render_html(data: dict[str, object]) -> str:
    budgets = data["budgets"]
    timeline = data["timeline"]
    faults = data["faults"]
    summary = data["summary"]
    if not (isinstance(budgets, list) and isinstance(timeline, list) and isinstance(faults, list)):
        raise TypeError("results data is not in the results.json shape")
    if not isinstance(summary, dict):
        raise TypeError("results data is not in the results.json shape")
    verdict = "PASS" if data["passed"] else "FAIL"
    budget_table = _rows(
        ["budget", "phase", "expression", "observed", "result"],
        [[b["name"], b["phase"], b["expression"], b["observed"], "pass" if b["passed"] else "FAIL"]
         for b in budgets],
    )  # fmt: skip
    timeline_table = _rows(
        ["t", "offered", "completed", "errors", "p50 ms", "p90 ms", "p99 ms", "queue depth"],
        [[r["t"], r["offered"], r["completed"], r["errors"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
          r["queue_depth"]] for r in timeline],
    )  # fmt: skip
    fault_table = _rows(
        ["fault", "what", "planned", "actual"],
        [[f["name"], f["description"], f"{f['planned_start_s']}-{f['planned_end_s']} s",
          f"{f['actual_start_s']}-{f['actual_end_s']} s"] for f in faults],
    )  # fmt: skip
    summary_table = _rows(list(summary), [list(summary.values())])
    title = html.escape(str(data["scenario"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}.PASS{{color:#1a7f37}}
.FAIL{{color:#cf222e}}</style></head><body>
<h1>{title} <span class="{verdict}">{verdict}</span></h1>
<p>backend {html.escape(str(data["backend"]))}, load {html.escape(str(data["load_shape"]))},
started {html.escape(str(data["started_at"]))}, {data["duration_s"]} s</p>
<h2>Budgets</h2>{budget_table}
<h2>Summary</h2>{summary_table}
<h2>p99 latency per second</h2>{_p99_chart(timeline, faults)}
<h2>Faults</h2>{fault_table if faults else "<p>none</p>"}
<h2>Timeline</h2>{timeline_table}
</body></html>
"""
