"""compare.html: one self-contained page (nothing fetched) of a comparison: the verdict, every
budget and phase figure of both runs with their differences, and both runs' p99 latency per
second on one time axis, drawn by :mod:`harness.report.charts` with the report's style and
hover script inlined."""

from __future__ import annotations

import html
from collections.abc import Sequence

from harness.report.assets import HOVER_SCRIPT, STYLE
from harness.report.charts import Band, Chart, Point, Series, render_chart
from harness.report.compare import Comparison, RunData

__all__ = ["p99_chart", "p99_figure", "render_compare_html"]

# Blue and vermillion of Okabe and Ito's palette, as the report draws them: told apart with
# every common colour-vision deficiency.
_BASELINE_COLOUR, _CANDIDATE_COLOUR = "#0072B2", "#D55E00"
_TIME = "seconds from the intended start (s)"
# What compare.html adds to the report's style sheet: regressed rows, the verdict's colour.
_PAGE_STYLE = """
tr.regressed td{background:#fbe3e4;font-weight:700}.ok{color:var(--pass)}.bad{color:var(--fail)}
td:nth-child(2),th:nth-child(2){text-align:left}
"""


def _esc(value: object) -> str:
    return html.escape("-" if value is None else str(value))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else ("+" if value > 0 else "") + _num(value)


def _table(headers: Sequence[str], rows: Sequence[tuple[Sequence[str], str]]) -> str:
    """Rows are (escaped cells, row class); the class marks regressions."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        for cells, cls in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _points(series: Sequence[tuple[float, float]]) -> tuple[Point, ...]:
    """Each second's p99 drawn mid-second, so it lines up with the fault windows; a second
    without answers is a gap that breaks the line."""
    points: list[Point] = []
    for t, value in series:
        if points and t + 0.5 - points[-1][0] > 1.0:
            points.append((points[-1][0] + 1.0, None))
        points.append((t + 0.5, value))
    return tuple(points)


def _window(start: float, stop: float | None, end: float) -> tuple[float, float, str]:
    """A fault's window on the axis, and as a reader is told it."""
    until = end if stop is None else stop
    return start, until, f"{start:g}-{'the end' if stop is None else f'{stop:g}'} s"


_Fault = tuple[str, float, float | None]


def _twin(
    name: str, start: float, end: float, faults: Sequence[_Fault], axis_end: float
) -> _Fault | None:
    """The first of ``faults`` named ``name`` whose window overlaps ``start``..``end``."""
    for fault in faults:
        other_start, other_end, _ = _window(fault[1], fault[2], axis_end)
        if fault[0] == name and other_start <= end and start <= other_end:
            return fault
    return None


def _fault_bands(baseline: RunData, candidate: RunData, end: float) -> tuple[Band, ...]:
    """Both runs' fault windows. A fault both runs applied over overlapping seconds is one band
    named once (its title gives both windows); any other is named with the run it was in."""
    unmatched = list(candidate.faults)
    bands = []
    for name, start, stop in baseline.faults:
        b_start, b_end, b_said = _window(start, stop, end)
        twin = _twin(name, b_start, b_end, unmatched, end)
        if twin is None:
            bands.append(Band(f"baseline: {name}", b_start, b_end, f"baseline {name}: {b_said}"))
            continue
        unmatched.remove(twin)
        c_start, c_end, c_said = _window(twin[1], twin[2], end)
        title = f"{name}: baseline {b_said}, candidate {c_said}"
        bands.append(Band(name, min(b_start, c_start), max(b_end, c_end), title))
    for name, start, stop in unmatched:
        c_start, c_end, c_said = _window(start, stop, end)
        bands.append(Band(f"candidate: {name}", c_start, c_end, f"candidate {name}: {c_said}"))
    return tuple(bands)


def p99_figure(baseline: RunData, candidate: RunData) -> Chart | None:
    """Both runs' p99 per second on one time axis (seconds from each run's intended start),
    both runs' fault windows shaded and named; None when neither run has a second to draw."""
    runs = (("baseline", baseline, _BASELINE_COLOUR), ("candidate", candidate, _CANDIDATE_COLOUR))
    series = tuple(
        Series(role, colour, "ms", _points(run.p99_series))
        for role, run, colour in runs
        if run.p99_series
    )
    if not series:
        return None
    ends = [t + 1 for _, run, _ in runs for t, _ in run.p99_series]
    ends += [start if stop is None else stop for _, run, _ in runs for _, start, stop in run.faults]
    end = max(max(ends), 1.0)
    missing = [role for role, run, _ in runs if not run.p99_series]
    note = "A gap in a line is a second without answers."
    if missing:
        note += f" The {missing[0]} run has no per-second latencies to draw."
    return Chart(
        key="compare-p99",
        title="p99 latency per second, baseline and candidate",
        x_title=_TIME,
        y_title="p99 latency (ms)",
        series=series,
        x_range=(0.0, end),
        bands=_fault_bands(baseline, candidate, end),
        note=note,
    )


def p99_chart(baseline: RunData, candidate: RunData) -> str:
    """The p99 chart as a ``<figure>``, or a line saying there is nothing to draw."""
    chart = p99_figure(baseline, candidate)
    if chart is None:
        return "<p>Neither run has per-second latencies to draw.</p>"
    return render_chart(chart)


def _budget_rows(comparison: Comparison) -> list[tuple[Sequence[str], str]]:
    rows: list[tuple[Sequence[str], str]] = []
    for delta in comparison.budgets:
        cells = [
            _esc(delta.expression),
            _esc(delta.phase),
            _num(delta.baseline.observed if delta.baseline else None),
            _num(delta.candidate.observed if delta.candidate else None),
            _signed(delta.difference),
            _esc(delta.outcome),
            _esc(delta.note),
        ]
        rows.append((cells, "regressed" if delta.regressed else ""))
    return rows


def _phase_rows(comparison: Comparison) -> list[tuple[Sequence[str], str]]:
    rows: list[tuple[Sequence[str], str]] = []
    for delta in comparison.phases:
        relative = delta.relative
        result = "REGRESSED" if delta.regressed else delta.note or "ok"
        cells = [
            _esc(delta.phase),
            _esc(delta.metric),
            _num(delta.baseline),
            _num(delta.candidate),
            _signed(delta.difference),
            "-" if relative is None else f"{relative:+.1%}",
            _esc(result),
        ]
        rows.append((cells, "regressed" if delta.regressed else ""))
    return rows


def _run_line(role: str, run: RunData) -> str:
    verdict = ("PASS" if run.passed else "FAIL") + ("" if run.valid else ", invalid")
    return (
        f"<li><b>{role}</b>: {_esc(run.scenario)} on the {_esc(run.backend)} backend, started "
        f"{_esc(run.started_at)}, {verdict}; <code>{_esc(run.path)}</code></li>"
    )


def render_compare_html(comparison: Comparison) -> str:
    verdict = comparison.verdict
    css_class = "ok" if verdict == "NO REGRESSION" else "bad"
    findings = "".join(f"<li>{_esc(item.describe())}</li>" for item in comparison.regressions)
    notes = "".join(f"<li>{_esc(note)}</li>" for note in comparison.notes)
    budgets = _table(
        ["budget", "phase", "baseline", "candidate", "difference", "result", "note"],
        _budget_rows(comparison),
    )
    phases = _table(
        ["phase", "metric", "baseline", "candidate", "difference", "relative", "result"],
        _phase_rows(comparison),
    )
    title = _esc(comparison.candidate.scenario)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>compare {title}: {verdict}</title><style>{STYLE}{_PAGE_STYLE}</style></head><body>
<h1>{title}: <span class="{css_class}">{verdict}</span></h1>
<ul>{_run_line("baseline", comparison.baseline)}{_run_line("candidate", comparison.candidate)}</ul>
<p>Regression: worse than the baseline by more than {_esc(comparison.tolerance.describe())}.
Latency and error rate are worse when higher, throughput when lower; a budget that held in the
baseline and broke in the candidate is a regression whatever the tolerance.</p>
{f"<h2>Regressions</h2><ul>{findings}</ul>" if findings else ""}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Latency per second</h2>
{p99_chart(comparison.baseline, comparison.candidate)}
<h2>Budgets</h2>{budgets}
<h2>Phases</h2>{phases}
<script>{HOVER_SCRIPT}</script>
</body></html>
"""
