"""compare.html: one self-contained page (nothing fetched) of a comparison: the verdict, every
budget and phase figure of both runs with their differences, and both runs' p99 latency per
second on one time axis as inline SVG."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from harness.report.compare import Comparison, RunData

__all__ = ["nice_ticks", "p99_chart", "render_compare_html"]

_BASELINE_COLOUR, _CANDIDATE_COLOUR = "#1f5fa8", "#d9661f"
_WIDTH, _HEIGHT = 760.0, 300.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 16.0, 36.0, 48.0


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


def nice_ticks(top: float, count: int = 6) -> list[float]:
    """Tick values from 0 to at least ``top`` on a 1-2-5 step, about ``count`` of them."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12 * top:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive seconds: a second without answers breaks the line."""
    segments: list[list[tuple[float, float]]] = []
    for point in points:
        if segments and point[0] - segments[-1][-1][0] <= 1.0:
            segments[-1].append(point)
        else:
            segments.append([point])
    return segments


def p99_chart(baseline: RunData, candidate: RunData) -> str:
    """Both runs' p99 per second on one time axis (seconds from the intended start), each
    run's fault windows shaded and named; hovering a point shows its value."""
    series = [("baseline", baseline, _BASELINE_COLOUR), ("candidate", candidate, _CANDIDATE_COLOUR)]
    if not baseline.p99_series and not candidate.p99_series:
        return "<p>Neither run has per-second latencies to draw.</p>"
    ends = [t + 1 for _, run, _ in series for t, _ in run.p99_series]
    ends += [end or start for _, run, _ in series for _, start, end in run.faults]
    x_ticks = nice_ticks(max(ends), 8)
    y_ticks = nice_ticks(max(v for _, run, _ in series for _, v in run.p99_series) or 1.0, 5)
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + t / x_ticks[-1] * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h - v / y_ticks[-1] * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH:.0f}" height="{_HEIGHT:.0f}" '
        f'viewBox="0 0 {_WIDTH:.0f} {_HEIGHT:.0f}" role="img" '
        'aria-label="p99 latency per second, baseline and candidate" font-size="11">'
    ]
    for index, (role, run, colour) in enumerate(series):
        for name, start, end in run.faults:
            stop = x_ticks[-1] if end is None else end
            left, right = x(start), x(stop)
            parts.append(
                f'<rect x="{left:.1f}" y="{_TOP + index * plot_h / 2:.1f}" '
                f'width="{max(right - left, 1):.1f}" height="{plot_h / 2:.1f}" fill="{colour}" '
                f'fill-opacity="0.12"><title>{_esc(role)} fault {_esc(name)}: '
                f"{start:.1f}-{stop:.1f} s</title></rect>"
                f'<text x="{left + 3:.1f}" y="{_TOP + index * plot_h / 2 + 12:.1f}" '
                f'fill="{colour}">{_esc(name)}</text>'
            )
    for tick in y_ticks:
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e3e3e3"/><text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick:g}</text>'
        )
    for tick in x_ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{_TOP + plot_h}" '
            f'y2="{_TOP + plot_h + 4}" stroke="#333"/><text x="{x(tick):.1f}" '
            f'y="{_TOP + plot_h + 17}" text-anchor="middle">{tick:g}</text>'
        )
    parts.append(
        f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{_TOP + plot_h}" '
        f'y2="{_TOP + plot_h}" stroke="#333"/>'
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 8}" text-anchor="middle">'
        "time from the intended start (s)</text>"
        f'<text transform="translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">p99 latency (ms)</text>'
    )
    for role, run, colour in series:
        for segment in _segments(run.p99_series):
            points = " ".join(f"{x(t + 0.5):.1f},{y(v):.1f}" for t, v in segment)
            parts.append(
                f'<polyline class="{role}" fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{points}"/>'
            )
        parts.extend(
            f'<circle cx="{x(t + 0.5):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
            f"<title>{role} t={t:g}s p99 {v:g} ms</title></circle>"
            for t, v in run.p99_series
        )
    for index, (role, _, colour) in enumerate(series):
        left = _LEFT + index * 110
        parts.append(
            f'<line x1="{left}" x2="{left + 22}" y1="14" y2="14" stroke="{colour}" '
            f'stroke-width="2"/><text x="{left + 27}" y="18">{role}</text>'
        )
    parts.append(
        f'<rect x="{_LEFT + 230}" y="7" width="14" height="12" fill="#888" fill-opacity="0.2"/>'
        f'<text x="{_LEFT + 249}" y="18">fault window (top half baseline, bottom candidate)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


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
<html lang="en"><head><meta charset="utf-8"><title>compare {title}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;
text-align:right}}td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){{text-align:left}}
tr.regressed td{{background:#fbe3e4;font-weight:bold}}.ok{{color:#1a7f37}}.bad{{color:#cf222e}}
</style></head><body>
<h1>{title}: <span class="{css_class}">{verdict}</span></h1>
<ul>{_run_line("baseline", comparison.baseline)}{_run_line("candidate", comparison.candidate)}</ul>
<p>Regression: worse than the baseline by more than {_esc(comparison.tolerance.describe())}.
Latency and error rate are worse when higher, throughput when lower; a budget that held in the
baseline and broke in the candidate is a regression whatever the tolerance.</p>
{f"<h2>Regressions</h2><ul>{findings}</ul>" if findings else ""}
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>p99 latency per second</h2>
{p99_chart(comparison.baseline, comparison.candidate)}
<h2>Budgets</h2>{budgets}
<h2>Phases</h2>{phases}
</body></html>
"""
