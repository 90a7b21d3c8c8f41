"""report.html: one self-contained page of a run, read from its results.json.

On top the verdict, each budget as a card (with the first second that broke it) and the
scenario as it ran; then charts of every second (:mod:`harness.report.figures`), each phase's
figures, what the dependencies and a client under test counted, and the timeline as a table.
A run that streamed its answers adds its stream figures (TTFT, ITL, goodput, cut streams) to
the phases and the timeline.
Nothing is fetched: the style, the SVG charts and their small hover script are all inline, so
the file opens offline and can be mailed or attached to a CI run as it is.

Any results.json renders, older ones without the newer keys and runs with no requests
included: what a file lacks is left out or said to be missing, never an error.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from harness.report.assets import HOVER_SCRIPT, STYLE
from harness.report.charts import render_chart
from harness.report.figures import Absent, figures
from harness.report.incident import incident_section
from harness.report.spans import (
    as_list,
    as_map,
    as_number,
    first_second_over,
    phase_spans,
    run_seconds,
    streamed,
)

__all__ = ["render_html"]


def _esc(value: object) -> str:
    return html.escape("-" if value is None else str(value))


def _fmt(value: object) -> str:
    """A number as a reader wants it: whole numbers whole, the rest to a sensible precision."""
    number = as_number(value)
    if number is None:
        return _esc(value)
    if number == int(number) and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{number:,.1f}"
    return f"{number:.4g}"


def _rows(headers: Sequence[str], rows: Sequence[Sequence[object]], *, text: bool = False) -> str:
    """A table; numbers right-aligned unless ``text`` says its cells are mostly words."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    opening = '<table class="text">' if text else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _unit(metric: str) -> str:
    if metric.endswith("_ms"):
        return " ms"
    if metric.endswith("_s"):
        return " s"
    if metric.endswith("_pct"):
        return " %"
    if metric.endswith("_rps"):
        return " req/s"
    return ""


def _with_unit(value: object, metric: str) -> str:
    number = as_number(value)
    if number is None:
        return "not measured"
    shown = _fmt(number) + _unit(metric)
    if metric.removeprefix("client.") in ("error_rate", "availability"):
        shown += f" ({number * 100:.3g} %)"
    return shown


def _verdict(data: Mapping[str, Any]) -> str:
    return "PASS" if data.get("passed") is True else "FAIL"


def _header(data: Mapping[str, Any], title: str) -> str:
    verdict = _verdict(data)
    invalid = ' <span class="INVALID">INVALID</span>' if data.get("valid") is False else ""
    summary = as_map(data.get("summary"))
    requests, errors = summary.get("requests"), summary.get("errors")
    return (
        f'<h1>{title} <span class="{verdict}">{verdict}</span>{invalid}</h1>'
        f'<p class="sub">{_esc(data.get("backend"))} backend, {_esc(data.get("load_shape"))}, '
        f"{_fmt(requests)} requests, {_fmt(errors)} errors, "
        f"started {_esc(data.get('started_at'))}, {_fmt(data.get('duration_s'))} s</p>"
    )


def _findings(data: Mapping[str, Any]) -> str:
    """Why a run stopped early or is invalid, and services that died with no fault to explain it."""
    items: list[str] = []
    aborted = data.get("aborted")
    if isinstance(aborted, Mapping):
        items.append(f"aborted at t={aborted.get('at_s')} s: {aborted.get('budget')} broke")
    if data.get("valid") is False:
        notes = [str(note) for note in as_list(data.get("notes"))]
        items += [f"invalid run: {note}" for note in notes] or ["invalid run"]
    for name, at in as_map(data.get("deaths")).items():
        items.append(f"{name} died at t={at} s, no fault explains it")
    if not items:
        return ""
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f"<h2>Findings</h2><ul>{listed}</ul>"


def _card(budget: Mapping[str, Any], first: int | None) -> str:
    metric = str(budget.get("metric") or "")
    passed = budget.get("passed") is True
    op, limit = budget.get("op"), budget.get("limit")
    shown_limit = f"{_esc(op)} {_fmt(limit)}{_unit(metric)}" if op is not None else "-"
    name = budget.get("name") or budget.get("expression")
    note = budget.get("note")
    return (
        f'<div class="card{"" if passed else " failed"}"><h3>{_esc(name)}</h3>'
        f'<p class="phase">phase <b>{_esc(budget.get("phase"))}</b></p><dl>'
        f"<dt>limit</dt><dd>{shown_limit}</dd>"
        f"<dt>observed</dt><dd>{html.escape(_with_unit(budget.get('observed'), metric))}</dd>"
        f'<dt>result</dt><dd class="{"PASS" if passed else "FAIL"}">'
        f"{'pass' if passed else 'FAIL'}</dd>"
        f"<dt>first second over</dt><dd>{'-' if first is None else f't={first} s'}</dd></dl>"
        + (f'<p class="note">{_esc(note)}</p>' if note else "")
        + "</div>"
    )


def _budgets(data: Mapping[str, Any]) -> str:
    budgets = [as_map(b) for b in as_list(data.get("budgets"))]
    if not budgets:
        return "<h2>Budgets</h2><p>no budgets</p>"
    spans, timeline = phase_spans(data), as_list(data.get("timeline"))
    cards = "".join(_card(b, first_second_over(b, timeline, spans)) for b in budgets)
    table = _rows(
        ["budget", "phase", "expression", "observed", "result"],
        [[b.get("name"), b.get("phase"), b.get("expression"), b.get("observed"),
          "pass" if b.get("passed") is True else "FAIL"] for b in budgets],
        text=True,
    )  # fmt: skip
    return (
        f'<h2>Budgets</h2><div class="cards">{cards}</div>'
        f"<details><summary>the budgets as a table</summary>{table}</details>"
    )


def _facts(pairs: Sequence[tuple[str, object]]) -> str:
    shown = "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(v) if isinstance(v, str) else _fmt(v)}</dd>"
        for k, v in pairs
        if v is not None and v != ""
    )
    return f'<dl class="facts">{shown}</dl>'


def _scenario(data: Mapping[str, Any]) -> str:
    """The scenario as it ran: backend, load, timing, the generator, versions, the faults."""
    generator = as_map(data.get("generator"))
    pairs: list[tuple[str, object]] = [
        ("scenario", data.get("scenario")),
        ("backend", data.get("backend")),
        ("load shape", data.get("load_shape")),
        ("started at", data.get("started_at")),
        ("run length (s)", run_seconds(data)),
        ("took (s)", data.get("duration_s")),
    ]
    if generator:
        said = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in generator.items())
        pairs.append(("generator", said))
    for name, version in as_map(data.get("environment")).items():
        pairs.append((f"{name} version" if name != "platform" else name, version))
    faults = [as_map(f) for f in as_list(data.get("faults"))]
    rows = [
        [f.get("name"), f.get("target"), f.get("description"),
         f"{_fmt(f.get('planned_start_s'))}-{_fmt(f.get('planned_end_s'))} s",
         f"{_fmt(f.get('actual_start_s'))}-"
         f"{'end' if f.get('actual_end_s') is None else _fmt(f.get('actual_end_s'))} s"]
        for f in faults
    ]  # fmt: skip
    table = (
        _rows(["fault", "target", "what", "planned", "applied"], rows, text=True) if rows else ""
    )
    return f"<h2>Scenario as run</h2>{_facts(pairs)}<h2>Faults</h2>{table or '<p>none</p>'}"


def _charts(data: Mapping[str, Any]) -> str:
    drawn = []
    for figure in figures(data):
        if isinstance(figure, Absent):
            drawn.append(
                f'<section class="absent" id="chart-{figure.key}"><h3>{_esc(figure.title)}</h3>'
                f'<p class="note">Not drawn: {_esc(figure.reason)}.</p></section>'
            )
        else:
            drawn.append(render_chart(figure))
    return "<h2>Second by second</h2>" + "".join(drawn)


def _stream_cells(phase: Mapping[str, Any]) -> list[object]:
    """A phase's stream figures for the phases table: TTFT p99, ITL p99, goodput, cut streams;
    blanks for a phase without streams."""
    stream = as_map(phase.get("stream"))
    return [as_map(stream.get("ttft_ms")).get("p99"), as_map(stream.get("itl_ms")).get("p99"),
            stream.get("goodput"), stream.get("cut")]  # fmt: skip


def _phases(data: Mapping[str, Any]) -> str:
    phases = as_map(data.get("phases"))
    if not phases:
        return ""
    spans = phase_spans(data)
    streams = streamed(data)
    rows = []
    for name, found in phases.items():
        phase = as_map(found)
        span = spans.get(str(name))
        where = "-" if span is None else f"{_fmt(span[0])}-{_fmt(span[1])}"
        rows.append(
            [name, where, phase.get("requests"), phase.get("errors"), phase.get("error_rate"),
             phase.get("p50_ms"), phase.get("p90_ms"), phase.get("p99_ms"), phase.get("max_ms"),
             phase.get("throughput_rps"), phase.get("max_queue_depth")]
            + (_stream_cells(phase) if streams else [])
        )  # fmt: skip
    headers = ["phase", "span (s)", "requests", "errors", "error rate", "p50 ms", "p90 ms",
               "p99 ms", "max ms", "throughput req/s", "max queue depth"]  # fmt: skip
    if streams:
        headers += ["TTFT p99 ms", "ITL p99 ms", "goodput", "cut streams"]
    return f"<h2>Phases</h2>{_rows(headers, rows)}"


def _hops(data: Mapping[str, Any]) -> str:
    """What each dependency and the client's hop counted during the run."""
    rows: list[list[object]] = []
    for name, found in as_map(data.get("dependencies")).items():
        seen = as_map(found)
        if seen:
            rows.append(
                [name, seen.get("calls"), seen.get("calls_per_request"),
                 _pairs(seen.get("statuses")), seen.get("unmatched"),
                 _pairs(seen.get("faults_injected"))]
            )  # fmt: skip
    hop = data.get("endpoint_hop")
    if isinstance(hop, Mapping):
        rows.append(
            ["client hop (endpoint)", hop.get("requests"), None, _pairs(hop.get("statuses")),
             None, _pairs(hop.get("faults_injected"))]
        )  # fmt: skip
    if not rows:
        return ""
    headers = ["hop", "calls", "calls per request", "answers", "unmatched", "faults injected"]
    return f"<h2>Dependencies</h2>{_rows(headers, rows)}"


def _pairs(counts: object) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return "-"
    return " ".join(f"{key}x{value}" for key, value in counts.items())


def _client(data: Mapping[str, Any]) -> str:
    """The client under test: what its users saw is the page above; what it did, here."""
    client = data.get("client")
    if not isinstance(client, Mapping):
        return ""
    rows = [[name, value] for name, value in as_map(client.get("measures")).items()]
    failures = as_map(client.get("failures"))
    listed = ""
    if failures:
        items = "".join(
            f"<li>{html.escape(str(kind))}: "
            f"{html.escape(' | '.join(map(str, as_list(messages))))}</li>"
            for kind, messages in failures.items()
        )
        listed = f"<h3>Failures, with their messages</h3><ul>{items}</ul>"
    head = (
        f"<p>{_esc(client.get('callable'))}: {_fmt(client.get('calls'))} calls, "
        f"{_fmt(client.get('dropped'))} dropped beyond max_in_flight "
        f"{_fmt(client.get('max_in_flight'))}</p>"
    )
    return f"<h2>Client under test</h2>{head}{_rows(['measure', 'value'], rows)}{listed}"


# A streamed run's timeline also says, each second, what its streams measured.
_STREAM_COLUMNS = {
    "ttft_p50_ms": "TTFT p50 ms",
    "ttft_p99_ms": "TTFT p99 ms",
    "itl_p99_ms": "ITL p99 ms",
    "tokens": "tokens",
    "good": "good streams",
}


def _timeline(data: Mapping[str, Any]) -> str:
    rows = [as_map(r) for r in as_list(data.get("timeline"))]
    lag = any(r.get("lag_p99_ms") is not None for r in rows)
    keys = ["t", "offered", "completed", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms",
            "queue_depth", "inflight"] + (["lag_p99_ms"] if lag else [])  # fmt: skip
    headers = ["t", "offered", "completed", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms",
               "queue depth", "in flight"] + (["lag p99 ms"] if lag else [])  # fmt: skip
    if streamed(data):
        keys += list(_STREAM_COLUMNS)
        headers += list(_STREAM_COLUMNS.values())
    table = _rows(headers, [[r.get(key) for key in keys] for r in rows])
    return f"<details><summary><h2>Timeline</h2> (a row per second)</summary>{table}</details>"


def render_html(data: Mapping[str, Any]) -> str:
    """The whole page for one run's results.json data."""
    title = html.escape(str(data.get("scenario", "run")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}: {_verdict(data)}</title><style>{STYLE}</style></head><body>
{_header(data, title)}
{_findings(data)}{_budgets(data)}
{_scenario(data)}
{incident_section(data)}
{_charts(data)}
{_phases(data)}
{_hops(data)}{_client(data)}
{_timeline(data)}
<script>{HOVER_SCRIPT}</script>
</body></html>
"""
