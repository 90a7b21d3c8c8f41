"""The report's incident section: a replay beside the source it replays, second by second.

Two charts from results.json's ``incident``: the error rate (429 and 5xx, transport failures
counted with 5xx) and p99 of the source and of the replay, with the seconds where each broke its
own baseline shaded, so the reader sees which windows matched and which did not.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from harness.report.charts import Band, Chart, Point, Series, render_chart
from harness.report.figures import BLUE, TIME, VERMILLION
from harness.report.spans import as_list, as_map, as_number

__all__ = ["incident_charts", "incident_section"]


def _points(rows: list[Mapping[str, Any]], side: str, key: str, scale: float) -> tuple[Point, ...]:
    points = []
    for index, row in enumerate(rows):
        value = as_number(as_map(row.get(side)).get(key))
        points.append((index + 0.5, None if value is None else value * scale))
    return tuple(points)


def _bands(found: Mapping[str, Any], key: str, name: str) -> tuple[Band, ...]:
    bands = []
    for raw in as_list(found.get(key)):
        window = as_map(raw)
        start, end = as_number(window.get("start_s")), as_number(window.get("end_s"))
        if start is None or end is None:
            continue
        reasons = " and ".join(str(r) for r in as_list(window.get("reasons")))
        title = f"{name} broke its baseline in seconds {start:g}-{end:g} ({reasons})"
        bands.append(Band(name, start, end, title))
    return tuple(bands)


def incident_charts(data: Mapping[str, Any]) -> list[Chart]:
    """The source-vs-replay charts, or none when the run replayed no imported incident."""
    found = as_map(data.get("incident"))
    rows = [as_map(row) for row in as_list(found.get("seconds"))]
    if not rows:
        return []
    x_range = (0.0, float(len(rows)))
    bands = _bands(found, "source_windows", "source") + _bands(found, "replay_windows", "replay")
    charts = []
    for key, title, y_title, unit, scale in (
        ("error_rate", "Error rate: source vs replay", "429 and 5xx (%)", "%", 100.0),
        ("p99_ms", "p99 latency: source vs replay", "p99 (ms)", "ms", 1.0),
    ):
        series = tuple(
            one
            for one in (
                Series("source", BLUE, unit, _points(rows, "source", key, scale), step=True),
                Series("replay", VERMILLION, unit, _points(rows, "replay", key, scale), step=True),
            )
            if one.values()
        )
        if not series:
            continue
        charts.append(
            Chart(
                key=f"incident-{key.replace('_', '-')}",
                title=title,
                x_title=TIME,
                y_title=y_title,
                series=series,
                x_range=x_range,
                bands=bands,
                band_label="broke its baseline",
                note="Shaded: the seconds where the source, and the replay, broke their own "
                "baseline; each is judged against its own.",
            )
        )
    return charts


def incident_section(data: Mapping[str, Any]) -> str:
    """The verdict sentence and the charts, or nothing for a run of no imported incident."""
    found = as_map(data.get("incident"))
    if not found:
        return ""
    verdict = "reproduced" if found.get("reproduced") is True else "not reproduced"
    css = "PASS" if verdict == "reproduced" else "FAIL"
    rule = as_map(found.get("rule"))
    overlap = as_number(rule.get("min_overlap"))
    share = "-" if overlap is None else f"{overlap:.0%}"
    how = (
        f"Reproduced means: at least {share} of the source's "
        f"anomalous seconds have an anomalous replay second within {rule.get('tolerance_s')} s, "
        "and the other way round; every second is in results.json under incident.seconds."
    )
    charts = "".join(render_chart(chart) for chart in incident_charts(data))
    return (
        f'<h2>Incident replay <span class="{css}">{verdict}</span></h2>'
        f"<p>{html.escape(str(found.get('summary', '')))}</p>"
        f'<p class="note">{html.escape(how)}</p>{charts}'
    )
