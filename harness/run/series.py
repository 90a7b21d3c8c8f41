"""Per-second series of a run, for the report's charts: a gauge as each second's highest
reading, a counter as each second's increase, a dependency's calls as each second's increase
by status.

Bounded by the run's length, not by how often anything was scraped: a series keeps one point
per second it was read in and the last reading, nothing more, so a ten-minute run holds a few
thousand numbers. Seconds are whole seconds from the run's start, the timeline's clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CounterSeries", "GaugeSeries", "RunSeries", "StatusSeries", "increase"]


def increase(before: float, now: float) -> float:
    """What a counter counted between two readings. A lower reading means the process behind
    it restarted and counts from zero again, so all of ``now`` was counted since."""
    return now - before if now >= before else now


def _second(t: float) -> int:
    # A reading just before the start belongs to second 0, as in the recorder's timeline.
    return max(int(t), 0)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 6)


class GaugeSeries:
    """A gauge's highest reading in each whole second: a level held for a fraction of a second
    still shows, however many readings the second had."""

    __slots__ = ("_points",)

    def __init__(self) -> None:
        self._points: list[list[float]] = []

    def observe(self, t: float, value: float) -> None:
        second = _second(t)
        if self._points and self._points[-1][0] >= second:
            # Readings arrive in order; one dated earlier still counts toward the open second.
            last = self._points[-1]
            last[1] = max(last[1], value)
        else:
            self._points.append([second, value])

    def to_json(self) -> list[list[int | float]]:
        return [[int(second), _number(value)] for second, value in self._points]


class CounterSeries:
    """A counter's increase in each whole second it was read in.

    The first reading (or ``baseline``) is where counting starts. A second with no reading has
    no point, and the next reading's increase carries what was counted meanwhile: the points
    always add up to the counter's increase, restarts included.
    """

    __slots__ = ("_last", "_points")

    def __init__(self, baseline: float | None = None) -> None:
        self._last = baseline
        self._points: list[list[float]] = []

    def observe(self, t: float, value: float) -> None:
        if self._last is None:
            self._last = value
            return
        gained, self._last = increase(self._last, value), value
        second = _second(t)
        if self._points and self._points[-1][0] >= second:
            self._points[-1][1] += gained
        else:
            self._points.append([second, gained])

    def total(self) -> float:
        return sum(gained for _, gained in self._points)

    def to_json(self) -> list[list[int | float]]:
        return [[int(second), _number(gained)] for second, gained in self._points]


class StatusSeries:
    """A hop's calls by status in each whole second it was read in, each status counted like
    a counter of its own (see :class:`CounterSeries`); a status absent from a reading restarted
    from zero. A second with no calls has an empty ``statuses``."""

    __slots__ = ("_last", "_points")

    def __init__(self, baseline: Mapping[str, float] | None = None) -> None:
        self._last = None if baseline is None else dict(baseline)
        self._points: list[tuple[int, dict[str, float]]] = []

    def observe(self, t: float, statuses: Mapping[str, float]) -> None:
        if self._last is None:
            self._last = dict(statuses)
            return
        last = self._last
        gained = {status: increase(last.get(status, 0.0), n) for status, n in statuses.items()}
        self._last = dict(statuses)
        second = _second(t)
        if self._points and self._points[-1][0] >= second:
            open_second = self._points[-1][1]
            for status, n in gained.items():
                open_second[status] = open_second.get(status, 0.0) + n
        else:
            self._points.append((second, gained))

    def totals(self) -> dict[str, float]:
        summed: dict[str, float] = {}
        for _, statuses in self._points:
            for status, n in statuses.items():
                summed[status] = summed.get(status, 0.0) + n
        return summed

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "t": second,
                "statuses": {s: _number(n) for s, n in sorted(statuses.items()) if n},
            }
            for second, statuses in self._points
        ]


class RunSeries:
    """Everything a run charts per second, filled by the samplers while it runs.

    ``endpoint`` holds a series per endpoint counter the endpoint exposes (created at its first
    reading, so a server without the counter has no key for it); ``dependencies`` one per
    declared dependency, from ``baselines`` (its calls by status before the load, None where
    they could not be read: its first reading in the run is the start then). ``failures``
    counts scrapes that got no answer, by what was scraped.
    """

    __slots__ = (
        "dependencies",
        "endpoint",
        "failures",
        "llm",
        "provisioned",
        "provisioned_target",
    )

    def __init__(self, baselines: Mapping[str, Mapping[str, float] | None] | None = None) -> None:
        self.provisioned = GaugeSeries()
        self.provisioned_target = GaugeSeries()
        self.endpoint: dict[str, CounterSeries] = {}
        # The LLM mode's gauges (running and waiting sequences, KV cache used), by key.
        self.llm: dict[str, GaugeSeries] = {}
        self.dependencies = {
            name: StatusSeries(baseline) for name, baseline in (baselines or {}).items()
        }
        self.failures: dict[str, int] = {}

    def counter(self, name: str, t: float, value: float) -> None:
        """One reading of the endpoint counter ``name``."""
        series = self.endpoint.get(name)
        if series is None:
            series = self.endpoint[name] = CounterSeries()
        series.observe(t, value)

    def llm_gauge(self, name: str, t: float, value: float) -> None:
        """One reading of the LLM mode's gauge ``name``."""
        series = self.llm.get(name)
        if series is None:
            series = self.llm[name] = GaugeSeries()
        series.observe(t, value)

    def calls(self, dependency: str, t: float, statuses: Mapping[str, float]) -> None:
        """One reading of a dependency's calls by status."""
        series = self.dependencies.get(dependency)
        if series is None:
            series = self.dependencies[dependency] = StatusSeries()
        series.observe(t, statuses)

    def failed(self, source: str) -> None:
        self.failures[source] = self.failures.get(source, 0) + 1

    def to_json(self) -> dict[str, Any]:
        found = {
            "provisioned": self.provisioned.to_json(),
            "provisioned_target": self.provisioned_target.to_json(),
            "endpoint": {name: series.to_json() for name, series in self.endpoint.items()},
            "dependencies": {name: series.to_json() for name, series in self.dependencies.items()},
            "scrape_failures": dict(sorted(self.failures.items())),
        }
        if self.llm:
            # Only an endpoint in the LLM mode has them: each second's highest reading.
            found["llm"] = {name: series.to_json() for name, series in self.llm.items()}
        return found
