"""report.html: one self-contained page of a run's verdict, phases, timeline and faults."""

from __future__ import annotations

import html

__all__ = ["render_html"]


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
    findings = _findings(data)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}.PASS{{color:#1a7f37}}
.FAIL{{color:#cf222e}}</style></head><body>
<h1>{title} <span class="{verdict}">{verdict}</span></h1>
<p>backend {html.escape(str(data["backend"]))}, load {html.escape(str(data["load_shape"]))},
started {html.escape(str(data["started_at"]))}, {data["duration_s"]} s</p>
{findings}<h2>Budgets</h2>{budget_table}
<h2>Summary</h2>{summary_table}
<h2>p99 latency per second</h2>{_p99_chart(timeline, faults)}
<h2>Faults</h2>{fault_table if faults else "<p>none</p>"}
{_hops(data)}{_client(data)}
<h2>Timeline</h2>{timeline_table}
</body></html>
"""


def _findings(data: dict[str, object]) -> str:
    """Why a run stopped early or is invalid, and services that died with no fault to explain it."""
    notes = data.get("notes")
    deaths = data.get("deaths")
    items: list[str] = []
    aborted = data.get("aborted")
    if isinstance(aborted, dict):
        items.append(f"aborted at t={aborted['at_s']} s: {aborted['budget']} broke")
    if data.get("valid") is False and isinstance(notes, list):
        items += [f"invalid run: {note}" for note in notes]
    if isinstance(deaths, dict):
        items += [f"{name} died at t={at} s, no fault explains it" for name, at in deaths.items()]
    if not items:
        return ""
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f"<h2>Findings</h2><ul>{listed}</ul>"


def _hops(data: dict[str, object]) -> str:
    """What each dependency and the client's hop counted during the run."""
    dependencies = data.get("dependencies")
    rows: list[list[object]] = []
    if isinstance(dependencies, dict):
        for name, seen in dependencies.items():
            if isinstance(seen, dict):
                rows.append(
                    [name, seen.get("calls"), seen.get("calls_per_request"),
                     _pairs(seen.get("statuses")), seen.get("unmatched"),
                     _pairs(seen.get("faults_injected"))]
                )  # fmt: skip
    hop = data.get("endpoint_hop")
    if isinstance(hop, dict):
        rows.append(
            ["client hop (endpoint)", hop.get("requests"), None, _pairs(hop.get("statuses")),
             None, _pairs(hop.get("faults_injected"))]
        )  # fmt: skip
    if not rows:
        return ""
    headers = ["hop", "calls", "calls per request", "answers", "unmatched", "faults injected"]
    return f"<h2>Dependencies</h2>{_rows(headers, rows)}"


def _pairs(counts: object) -> str:
    if not isinstance(counts, dict) or not counts:
        return "-"
    return " ".join(f"{key}x{value}" for key, value in counts.items())


def _client(data: dict[str, object]) -> str:
    """The client under test: what its users saw is the page above; what it did, here."""
    client = data.get("client")
    if not isinstance(client, dict):
        return ""
    measures = client.get("measures")
    rows = [[name, value] for name, value in measures.items()] if isinstance(measures, dict) else []
    failures = client.get("failures")
    listed = ""
    if isinstance(failures, dict) and failures:
        items = "".join(
            f"<li>{html.escape(str(kind))}: {html.escape(' | '.join(map(str, messages)))}</li>"
            for kind, messages in failures.items()
        )
        listed = f"<h3>Failures, with their messages</h3><ul>{items}</ul>"
    head = (
        f"<p>{html.escape(str(client.get('callable')))}: {client.get('calls')} calls, "
        f"{client.get('dropped')} dropped beyond max_in_flight {client.get('max_in_flight')}</p>"
    )
    return f"<h2>Client under test</h2>{head}{_rows(['measure', 'value'], rows)}{listed}"
