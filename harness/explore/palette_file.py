"""Palette files: YAML in, a validated Palette out for one scenario, or a ScenarioError naming
file, line and field.

    name: feature-store-surge
    run_s: 3               # each example's run (default: the scenario's load.duration_s)
    window_s: [1, 2]       # shortest and longest fault window
    step_s: 0.5            # starts and durations on this grid
    first_start_s: 0.5     # no fault before: the baseline phase sees the system unfaulted
    max_faults: 2
    faults:
      - kind: latency
        targets: [feature-store]
        latency_ms: [20, 120]
        step: 5
      - kind: surge
        factor: [2, 4]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from faults.palette import (
    MAGNITUDE_KEYS,
    PALETTE_KINDS,
    FaultChoice,
    Magnitude,
    Palette,
    default_step,
    mild_high,
)
from harness.errors import ScenarioError
from harness.scenario.reader import Reader
from harness.scenario.spec import Scenario
from harness.scenario.targets import targets_of

__all__ = ["load_palette", "parse_palette"]

_TOP_KEYS = {
    "name",
    "description",
    "run_s",
    "window_s",
    "step_s",
    "first_start_s",
    "max_faults",
    "faults",
}
# The fixed settings each kind takes besides its targets, magnitude range and step.
_FIXED: Mapping[str, frozenset[str]] = {
    "abort": frozenset({"status"}),
    "rate_limit": frozenset({"burst"}),
    "surge": frozenset({"rise_s"}),
}
# ``http_error`` reads as an abort burst, as in scenario files.
_ALIASES = {"http_error": "abort"}


def load_palette(path: str | Path, scenario: Scenario) -> Palette:
    """Read and validate a palette file against the scenario it explores."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read palette file: {exc.strerror}", source=str(file)) from exc
    return parse_palette(text, scenario, source=str(file))


def parse_palette(text: str, scenario: Scenario, *, source: str = "<palette>") -> Palette:
    reader = Reader(source, text)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", source=source) from exc
    doc = reader.mapping(raw, "")
    reader.known_keys(doc, "", _TOP_KEYS)
    run_s = float(
        reader.number(doc, "run_s", "", default=scenario.load.duration_s, minimum=0, exclusive=True)
    )
    if scenario.load.arrivals is not None and run_s != scenario.load.duration_s:
        raise reader.error(
            "run_s",
            f"the scenario's load.arrivals lasts {scenario.load.duration_s:g}s; expected "
            f"run_s={scenario.load.duration_s:g} or no run_s but got run_s={run_s:g}",
        )
    step_s = float(reader.number(doc, "step_s", "", default=0.5, minimum=0, exclusive=True))
    shortest, longest = _range(reader, doc, "window_s", "", default=(max(step_s, 1.0), run_s))
    if longest > run_s:
        raise reader.error(
            "window_s",
            f"expected the longest window <= run_s={run_s:g} but got window_s="
            f"[{shortest:g}, {longest:g}]",
        )
    if shortest < step_s:
        raise reader.error(
            "window_s",
            f"expected the shortest window >= step_s={step_s:g} but got window_s="
            f"[{shortest:g}, {longest:g}]",
        )
    first_start_s = float(reader.number(doc, "first_start_s", "", default=0.5, minimum=0))
    if first_start_s + shortest > run_s:
        raise reader.error(
            "first_start_s",
            f"expected first_start_s + the shortest window <= run_s={run_s:g} but got "
            f"first_start_s={first_start_s:g} and a shortest window of {shortest:g}s",
        )
    max_faults = reader.number(doc, "max_faults", "", default=2, minimum=1, integer=True)
    choices = _choices(reader, doc, scenario)
    try:
        return Palette(
            choices=choices,
            run_s=run_s,
            max_window_s=longest,
            min_window_s=shortest,
            step_s=step_s,
            max_faults=max_faults,
            name=str(doc.get("name", "")) or Path(source).stem,
            first_start_s=first_start_s,
        )
    except ValueError as exc:
        raise reader.error("", str(exc)) from exc


def _range(
    reader: Reader,
    doc: Mapping[str, Any],
    key: str,
    path: str,
    *,
    default: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """``key: [low, high]`` (or one number: low = high), low <= high, both >= 0."""
    where = f"{path}.{key}" if path else key
    if key not in doc:
        if default is None:
            raise reader.error(where, "required field is missing; expected [low, high]")
        return default
    found = doc[key]
    values = [found] if not isinstance(found, list) else found
    if len(values) not in (1, 2) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise reader.error(where, f"expected [low, high] (numbers) but got {key}={found!r}")
    low, high = float(values[0]), float(values[-1])
    if low < 0:
        raise reader.error(where, f"expected low >= 0 but got {key}={found!r}")
    if low > high:
        raise reader.error(
            where, f"expected low <= high but got {key}={found!r} (low {low:g} > high {high:g})"
        )
    return low, high


def _choices(reader: Reader, doc: Mapping[str, Any], scenario: Scenario) -> tuple[FaultChoice, ...]:
    raw = doc.get("faults")
    if not isinstance(raw, list) or not raw:
        raise reader.error(
            "faults", "expected a non-empty list of fault kinds such as [{kind: latency, ...}]"
        )
    choices = tuple(_choice(reader, item, f"faults[{i}]", scenario) for i, item in enumerate(raw))
    seen: set[tuple[str, str]] = set()
    for index, choice in enumerate(choices):
        for target in choice.targets:
            if (choice.kind, target) in seen:
                raise reader.error(
                    f"faults[{index}].targets",
                    f"a {choice.kind} fault on {target} is already in the palette; name each "
                    "kind and target once",
                )
            seen.add((choice.kind, target))
    return choices


def _choice(reader: Reader, item: Any, path: str, scenario: Scenario) -> FaultChoice:
    entry = reader.mapping(item, path)
    kind = reader.text(entry, "kind", path)
    kind = _ALIASES.get(kind, kind)
    if kind not in MAGNITUDE_KEYS:
        raise reader.error(
            f"{path}.kind",
            f"expected one of {[*PALETTE_KINDS, *_ALIASES]} but got kind={entry['kind']!r}",
        )
    if kind == "surge" and scenario.load.arrivals is not None:
        raise reader.error(
            f"{path}.kind", "a surge shapes constant load; the scenario has load.arrivals"
        )
    magnitude_key = MAGNITUDE_KEYS[kind]
    allowed = {"kind", "targets", *_FIXED.get(kind, ())}
    if magnitude_key is not None:
        allowed |= {magnitude_key, "step"}
    reader.known_keys(entry, path, allowed)
    targets = _targets(reader, entry, path, kind, scenario)
    magnitude = None
    if magnitude_key is not None:
        low, high = _range(reader, entry, magnitude_key, path)
        step = float(
            reader.number(
                entry, "step", path, default=default_step(kind), minimum=0, exclusive=True
            )
        )
        _check_magnitude(reader, f"{path}.{magnitude_key}", kind, low, high)
        magnitude = Magnitude(low, high, step, mild_high=mild_high(kind))
    fixed: dict[str, Any] = {}
    if "status" in entry:
        fixed["status"] = reader.number(entry, "status", path, minimum=400, integer=True)
        if fixed["status"] > 599:
            raise reader.error(
                f"{path}.status", f"expected status in 400..599 but got status={fixed['status']}"
            )
    if "burst" in entry:
        fixed["burst"] = reader.number(entry, "burst", path, minimum=1, integer=True)
    if "rise_s" in entry:
        fixed["rise_s"] = float(reader.number(entry, "rise_s", path, minimum=0))
    try:
        return FaultChoice(kind, targets, magnitude, **fixed)
    except ValueError as exc:
        raise reader.error(path, str(exc)) from exc


def _check_magnitude(reader: Reader, where: str, kind: str, low: float, high: float) -> None:
    if kind == "abort" and high > 100:
        raise reader.error(where, f"expected percentages in 0..100 but got high={high:g}")
    if kind in ("rate_limit", "surge") and low <= 0:
        raise reader.error(where, f"expected low > 0 for a {kind} but got low={low:g}")


def _targets(
    reader: Reader, entry: Mapping[str, Any], path: str, kind: str, scenario: Scenario
) -> tuple[str, ...]:
    """The targets named, each one the scenario's system has for this kind; all of them when
    none are named."""
    valid = targets_of(kind, scenario.system)
    if "targets" not in entry:
        if not valid:
            raise reader.error(f"{path}.kind", f"this scenario has no target for a {kind} fault")
        return tuple(valid)
    found = entry["targets"]
    names = [found] if isinstance(found, str) else found
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise reader.error(
            f"{path}.targets", f"expected a non-empty list of names but got targets={found!r}"
        )
    for name in names:
        if name not in valid:
            raise reader.error(
                f"{path}.targets",
                f"expected targets among {list(valid)} for a {kind} fault but got {name!r}",
            )
    if len(set(names)) != len(names):
        raise reader.error(f"{path}.targets", f"each target once, but got targets={names!r}")
    return tuple(names)
