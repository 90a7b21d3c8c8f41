"""Charts drawn as plain SVG: axes with nice ticks and titles, a legend, shaded fault windows,
limit lines over a span, and the data each chart was drawn from embedded as JSON so the page's
small hover script can show every series' value at the pointer.

Nothing here knows what a run is: :mod:`harness.report.figures` turns results.json into
:class:`Chart` values and this module draws them. Every element is ordinary DOM, so the
charts render with scripts off, print, and can be inspected by a test or a reader.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TIME_STEPS",
    "Band",
    "Chart",
    "Point",
    "Rule",
    "Series",
    "nice_ticks",
    "render_chart",
]

Point = tuple[float, float | None]

# The drawing's own coordinate system; the SVG scales to its container's width.
WIDTH, HEIGHT = 960.0, 300.0
LEFT, RIGHT, TOP, BOTTOM = 72.0, 16.0, 26.0, 46.0
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# Ticks on a time axis fall on steps a reader counts in: seconds, then minutes.
TIME_STEPS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
# A limit this far above the data would squash it: it is named at the top instead of drawn.
RULE_REACH = 3.0
HEADROOM = 1.04


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or one layer of a stacked chart) and how its values read on hover.

    ``step`` holds each value until the next point (a gauge, a second's count), instead of
    joining points with slopes; ``None`` values are gaps.
    """

    name: str
    color: str
    unit: str
    points: tuple[Point, ...]
    step: bool = False
    dashed: bool = False
    markers: bool = False

    def values(self) -> list[float]:
        return [y for _, y in self.points if y is not None]


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded stretch of the x axis with a name: a fault's window."""

    name: str
    start: float
    end: float
    title: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal limit over part of the x axis: a budget over its phase, a validity bound.

    A limit far above the data is named at the top instead of drawn, unless ``in_view``: then
    the y axis reaches it, and the data's distance below it is the point.
    """

    label: str
    y: float
    start: float
    end: float
    color: str
    in_view: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything one chart shows. ``ticks`` fixes the x ticks (position, label) where the
    axis is not plain numbers; hover then names the nearest of ``hover_labels`` (else of the
    ticks) instead of the second. ``band_label`` and ``rule_label`` name the bands and rules
    in the legend: fault windows and budgets on a run's timeline, what was found and aimed at
    on a chart of other x axes."""

    key: str
    title: str
    x_title: str
    y_title: str
    series: tuple[Series, ...]
    x_range: tuple[float, float]
    bands: tuple[Band, ...] = ()
    rules: tuple[Rule, ...] = ()
    ticks: tuple[tuple[float, str], ...] = ()
    hover_labels: tuple[tuple[float, str], ...] = ()
    stacked: bool = False
    time_axis: bool = True
    note: str = ""
    band_label: str = "fault window"
    rule_label: str = "limit"


def _step_for(raw: float, steps: Sequence[float] | None) -> float:
    if steps:
        for step in steps:
            if raw <= step:
                return step
        return steps[-1] * math.ceil(raw / steps[-1])
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude * (1 + 1e-9):
            return factor * magnitude
    return 10.0 * magnitude


def nice_ticks(
    low: float, high: float, target: int = 6, steps: Sequence[float] | None = None
) -> list[float]:
    """Round tick values covering ``low``..``high``: steps of 1, 2, 2.5 or 5 times a power of
    ten (or one of ``steps``), the first at or below ``low`` and the last at or above ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0 if math.isfinite(low) else 1.0
        low = low if math.isfinite(low) else 0.0
    step = _step_for((high - low) / max(target, 1), steps)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [_clean(n * step) for n in range(first, last + 1)]


def _clean(value: float) -> float:
    # 0.1 * 3 is 0.30000000000000004: ticks read as written.
    return round(value, 10) + 0.0


def _label(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True, slots=True)
class _Scale:
    x0: float
    x1: float
    y1: float

    def x(self, value: float) -> float:
        span = self.x1 - self.x0
        return LEFT + (value - self.x0) / span * PLOT_W if span > 0 else LEFT

    def y(self, value: float) -> float:
        return TOP + PLOT_H - value / self.y1 * PLOT_H if self.y1 > 0 else TOP + PLOT_H


def _stack(series: Sequence[Series]) -> list[list[tuple[float, float, float]]]:
    """Each layer's (x, bottom, top) per point, layers in order from the axis up."""
    bases: dict[float, float] = {}
    layers = []
    for one in series:
        layer = []
        for x, y in one.points:
            bottom = bases.get(x, 0.0)
            top = bottom + (y or 0.0)
            bases[x] = top
            layer.append((x, bottom, top))
        layers.append(layer)
    return layers


def _data_max(chart: Chart) -> float:
    if chart.stacked:
        tops = [top for layer in _stack(chart.series) for _, _, top in layer]
        return max(tops, default=0.0)
    return max((v for one in chart.series for v in one.values()), default=0.0)


def _y_top(chart: Chart) -> tuple[float, list[float]]:
    """The y axis's top and ticks: the data and every limit near it, from zero."""
    top = _data_max(chart)
    reach = top * RULE_REACH if top > 0 else math.inf
    for rule in chart.rules:
        if rule.y <= reach or rule.in_view:
            top = max(top, rule.y)
    # A little headroom, so a line at the top of the data does not run along the frame.
    ticks = nice_ticks(0.0, top * HEADROOM if top > 0 else 1.0)
    return ticks[-1], ticks


def _segments(points: Iterable[Point]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _line_path(one: Series, scale: _Scale, x_end: float) -> str:
    parts = []
    for run in _segments(one.points):
        xs = [scale.x(x) for x, _ in run]
        ys = [scale.y(y) for _, y in run]
        if one.step:
            # Each value holds until the next point; the last one for as long as its own step.
            ends = [scale.x(x) for x, _ in run[1:]]
            width = (run[-1][0] - run[-2][0]) if len(run) > 1 else 1.0
            ends.append(scale.x(min(run[-1][0] + width, x_end)))
            path = f"M{_num(xs[0])},{_num(ys[0])}"
            for i, end in enumerate(ends):
                path += f"H{_num(end)}"
                if i + 1 < len(ys):
                    path += f"V{_num(ys[i + 1])}"
            parts.append(path)
        elif len(run) == 1:
            # One point alone still shows, as a dot drawn by the line's round cap.
            parts.append(f"M{_num(xs[0])},{_num(ys[0])}h0.01")
        else:
            coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in zip(xs, ys, strict=True))
            parts.append(f"M{coords}")
    return "".join(parts)


def _area_path(layer: Sequence[tuple[float, float, float]], scale: _Scale) -> str:
    """A stacked layer as steps: each point covers ``x`` to ``x + 1``."""
    if not layer:
        return ""
    first = layer[0]
    path = f"M{_num(scale.x(first[0]))},{_num(scale.y(first[2]))}"
    for i, (x, _, top) in enumerate(layer):
        if i:
            path += f"V{_num(scale.y(top))}"
        path += f"H{_num(scale.x(x + 1))}"
    for x, bottom, _ in reversed(layer):
        path += f"V{_num(scale.y(bottom))}H{_num(scale.x(x))}"
    return path + "Z"


def _bands(chart: Chart, scale: _Scale) -> str:
    drawn = []
    for band in chart.bands:
        start = max(band.start, scale.x0)
        end = min(band.end, scale.x1)
        if end < start:
            continue
        x, width = scale.x(start), max(scale.x(end) - scale.x(start), 1.0)
        name = html.escape(band.name)
        drawn.append(
            f'<g class="band"><title>{html.escape(band.title)}</title>'
            f'<rect x="{_num(x)}" y="{_num(TOP)}" width="{_num(width)}" height="{_num(PLOT_H)}"/>'
            f'<text x="{_num(x + 3)}" y="{_num(TOP - 6)}">{name}</text></g>'
        )
    return "".join(drawn)


def _rules(chart: Chart, scale: _Scale) -> str:
    drawn = []
    for rule in chart.rules:
        start, end = max(rule.start, scale.x0), min(rule.end, scale.x1)
        if end < start:
            continue
        label = html.escape(rule.label)
        x0, x1 = scale.x(start), scale.x(end)
        if rule.y > scale.y1:
            # Far above what was measured: named at the top of its span rather than drawn.
            drawn.append(
                f'<g class="rule above"><title>{label}</title><text x="{_num(x0 + 3)}" '
                f'y="{_num(TOP + 12)}" fill="{rule.color}">\u2191 {label}, above the scale'
                "</text></g>"
            )
            continue
        y = scale.y(rule.y)
        drawn.append(
            f'<g class="rule"><title>{label}</title><line x1="{_num(x0)}" x2="{_num(x1)}" '
            f'y1="{_num(y)}" y2="{_num(y)}" stroke="{rule.color}"/>'
            f'<text x="{_num(x1 - 3)}" y="{_num(y - 4)}" text-anchor="end" '
            f'fill="{rule.color}">{label}</text></g>'
        )
    return "".join(drawn)


def _series(chart: Chart, scale: _Scale) -> str:
    drawn = []
    if chart.stacked:
        for one, layer in zip(chart.series, _stack(chart.series), strict=True):
            drawn.append(
                f'<path class="area" d="{_area_path(layer, scale)}" fill="{one.color}">'
                f"<title>{html.escape(one.name)} ({html.escape(one.unit)})</title></path>"
            )
        return "".join(drawn)
    for one in chart.series:
        dash = ' stroke-dasharray="6 4"' if one.dashed else ""
        drawn.append(
            f'<path class="line" d="{_line_path(one, scale, scale.x1)}" stroke="{one.color}"'
            f"{dash}><title>{html.escape(one.name)} ({html.escape(one.unit)})</title></path>"
        )
        if one.markers:
            drawn.extend(
                f'<circle cx="{_num(scale.x(x))}" cy="{_num(scale.y(y))}" r="3" '
                f'fill="{one.color}"/>'
                for x, y in one.points
                if y is not None
            )
    return "".join(drawn)


def _x_ticks(chart: Chart) -> list[tuple[float, str]]:
    if chart.ticks:
        return list(chart.ticks)
    low, high = chart.x_range
    steps = TIME_STEPS if chart.time_axis else None
    values = nice_ticks(low, high, target=10, steps=steps)
    return [(v, _label(v)) for v in values if low - 1e-9 <= v <= high + 1e-9]


def _axes(chart: Chart, scale: _Scale, y_ticks: Sequence[float]) -> str:
    left, right, top = _num(LEFT), _num(LEFT + PLOT_W), _num(TOP)
    bottom = _num(TOP + PLOT_H)
    parts = [f'<g class="axis x"><line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>']
    below, label_y = _num(TOP + PLOT_H + 5), _num(TOP + PLOT_H + 18)
    for value, label in _x_ticks(chart):
        x = _num(scale.x(value))
        parts.append(
            f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{below}"/>'
            f'<text x="{x}" y="{label_y}" text-anchor="middle">{html.escape(label)}</text>'
        )
    parts.append(
        f'<text class="axis-title" x="{_num(LEFT + PLOT_W / 2)}" y="{_num(HEIGHT - 6)}" '
        f'text-anchor="middle">{html.escape(chart.x_title)}</text></g>'
    )
    parts.append(f'<g class="axis y"><line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    for value in y_ticks:
        y = _num(scale.y(value))
        parts.append(
            f'<line class="grid" x1="{left}" x2="{right}" y1="{y}" y2="{y}"/>'
            f'<text x="{_num(LEFT - 6)}" y="{y}" dy="4" text-anchor="end">{_label(value)}</text>'
        )
    middle = _num(TOP + PLOT_H / 2)
    parts.append(
        f'<text class="axis-title" transform="translate(14,{middle}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(chart.y_title)}</text></g>'
    )
    return "".join(parts)


def _legend(chart: Chart) -> str:
    items = []
    kind = "area" if chart.stacked else "line"
    for one in chart.series:
        style = "dashed" if one.dashed else kind
        items.append(
            f'<li><span class="key {style}" style="--c:{one.color}"></span>'
            f"{html.escape(one.name)}</li>"
        )
    if chart.rules:
        label = html.escape(chart.rule_label)
        items.append(f'<li><span class="key rule" style="--c:#444"></span>{label}</li>')
    if chart.bands:
        items.append(f'<li><span class="key band"></span>{html.escape(chart.band_label)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def _hover_data(chart: Chart, scale: _Scale) -> dict[str, Any]:
    """What the hover script reads: the plot's place in the drawing, the x domain, and every
    series' points (an x list shared by the series that share it)."""
    shared = [x for x, _ in chart.series[0].points] if chart.series else []
    series = []
    for one in chart.series:
        xs = [x for x, _ in one.points]
        entry: dict[str, Any] = {
            "n": one.name,
            "c": one.color,
            "u": one.unit,
            "s": 1 if one.step or chart.stacked else 0,
            "y": [None if y is None else round(y, 3) for _, y in one.points],
        }
        if xs != shared:
            entry["x"] = [round(x, 3) for x in xs]
        series.append(entry)
    found: dict[str, Any] = {
        "x0": scale.x0,
        "x1": scale.x1,
        "left": LEFT,
        "width": PLOT_W,
        "x": [round(x, 3) for x in shared],
        "series": series,
    }
    names = chart.hover_labels or chart.ticks
    if names:
        found["names"] = [[round(x, 4), label] for x, label in names]
    return found


def _script_json(value: object) -> str:
    # Inside <script>, "</script>" or "<!--" in a name would end or confuse the element.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def render_chart(chart: Chart) -> str:
    """One chart as a ``<figure>``: title, legend, the SVG, its hover data and a note."""
    x0, x1 = chart.x_range
    y_top, y_ticks = _y_top(chart)
    scale = _Scale(x0, x1 if x1 > x0 else x0 + 1.0, y_top)
    clip = f"clip-{chart.key}"
    box = f'x="{_num(LEFT)}" y="{_num(TOP)}" width="{_num(PLOT_W)}" height="{_num(PLOT_H)}"'
    svg = (
        f'<svg viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" role="img" '
        f'aria-label="{html.escape(chart.title)}">'
        f'<clipPath id="{clip}"><rect {box}/></clipPath><rect class="plot" {box}/>'
        f"{_axes(chart, scale, y_ticks)}{_bands(chart, scale)}"
        f'<g class="series" clip-path="url(#{clip})">{_series(chart, scale)}</g>'
        f"{_rules(chart, scale)}"
        f'<line class="crosshair" x1="{_num(LEFT)}" x2="{_num(LEFT)}" y1="{_num(TOP)}" '
        f'y2="{_num(TOP + PLOT_H)}"/></svg>'
    )
    note = f'<figcaption class="note">{html.escape(chart.note)}</figcaption>' if chart.note else ""
    return (
        f'<figure class="chart" id="chart-{chart.key}"><h3>{html.escape(chart.title)}</h3>'
        f'{_legend(chart)}<div class="frame">{svg}<div class="tip" hidden></div></div>{note}'
        f'<script type="application/json" class="chart-data">'
        f"{_script_json(_hover_data(chart, scale))}</script></figure>"
    )
