"""Palette files: the shipped one parses; every invalid palette names file, line and field,
and the CLI answers it with exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.palette import Magnitude
from harness.errors import ScenarioError
from harness.explore import load_palette, parse_palette
from harness.scenario import load_scenario, parse_scenario
from tests.cli import Cli

SUITES = Path(__file__).resolve().parents[2] / "suites"
SCENARIO_TEXT = """\
name: tiny
load: {rate: 20, duration_s: 4}
budgets: [error_rate < 0.01]
"""
GOOD = """\
name: small
run_s: 3
window_s: [1, 2]
faults:
  - kind: latency
    targets: [feature-store]
    latency_ms: [20, 120]
  - kind: surge
    factor: [2, 4]
"""


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse_palette(text, parse_scenario(SCENARIO_TEXT), source="pal.yaml")
    return caught.value


def test_the_shipped_palette_parses_against_the_shipped_scenario() -> None:
    scenario = load_scenario(SUITES / "scenarios" / "feature_store_latency.yaml")
    palette = load_palette(SUITES / "palettes" / "feature_store_surge.yaml", scenario)
    assert [choice.kind for choice in palette.choices] == [
        "latency",
        "surge",
        "abort",
        "rate_limit",
    ]
    assert (palette.run_s, palette.min_window_s, palette.max_window_s) == (8.0, 1.0, 4.0)
    rate_limit = palette.choices[3].magnitude
    assert rate_limit is not None
    assert rate_limit.at(0) == 200
    assert rate_limit.at(1) == 190


def test_a_palette_reads_ranges_defaults_and_targets() -> None:
    palette = parse_palette(GOOD, parse_scenario(SCENARIO_TEXT))
    latency, surge = palette.choices
    assert latency.magnitude == Magnitude(20, 120, 5.0)
    assert latency.levels == 20
    assert surge.targets == ("endpoint",)
    assert surge.magnitude == Magnitude(2, 4, 0.5)
    assert (palette.step_s, palette.max_faults, palette.name) == (0.5, 2, "small")
    assert palette.first_start_s == 0.5


def test_targets_default_to_every_one_the_scenario_has_for_the_kind() -> None:
    text = "faults:\n  - kind: crash\n"
    palette = parse_palette(text, parse_scenario(SCENARIO_TEXT))
    assert palette.choices[0].targets == ("endpoint", "feature-store")
    assert palette.run_s == 4.0


def test_magnitude_levels_go_from_the_mild_end() -> None:
    latency = Magnitude(20, 50, 7)
    assert [latency.at(level) for level in range(latency.levels + 1)] == [20, 27, 34, 41, 48, 50]
    rps = Magnitude(10, 30, 10, mild_high=True)
    assert [rps.at(level) for level in range(rps.levels + 1)] == [30, 20, 10]


def test_an_unknown_fault_kind_names_its_line() -> None:
    error = _error(GOOD.replace("kind: surge", "kind: meteor"))
    assert error.source == "pal.yaml:8"
    assert error.field == "faults[1].kind"
    assert "kind='meteor'" in str(error)
    assert "latency" in str(error)


def test_a_range_whose_low_is_above_its_high_names_its_line() -> None:
    error = _error(GOOD.replace("[20, 120]", "[120, 20]"))
    assert error.source == "pal.yaml:7"
    assert error.field == "faults[0].latency_ms"
    assert "expected low <= high" in str(error)


def test_a_window_longer_than_the_run_names_its_line() -> None:
    error = _error(GOOD.replace("window_s: [1, 2]", "window_s: [1, 5]"))
    assert error.source == "pal.yaml:3"
    assert error.field == "window_s"
    assert "run_s=3" in str(error)


def test_a_target_the_scenario_does_not_have_names_its_line() -> None:
    error = _error(GOOD.replace("[feature-store]", "[enrichment]"))
    assert error.source == "pal.yaml:6"
    assert error.field == "faults[0].targets"
    assert "'enrichment'" in str(error)
    assert "feature-store" in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("targets: [feature-store]", "targets: [feature-store]\n    colour: red"), "colour"),
        (("  - kind: surge\n    factor: [2, 4]", "  - kind: surge"), "faults[1].factor"),
        (("factor: [2, 4]", "factor: [0, 4]"), "faults[1].factor"),
        (("run_s: 3", "run_s: -3"), "run_s"),
        (("name: small", "name: small\nmax_faults: 0"), "max_faults"),
        (("name: small", "name: small\nfirst_start_s: 2.5"), "first_start_s"),
    ],
)
def test_other_mistakes_name_their_field(change: tuple[str, str], field: str) -> None:
    error = _error(GOOD.replace(*change))
    assert error.field is not None
    assert error.field.endswith(field)


def test_explore_answers_an_invalid_palette_with_exit_2(tmp_path: Path, cli: Cli) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO_TEXT)
    palette = tmp_path / "pal.yaml"
    palette.write_text(GOOD.replace("[20, 120]", "[120, 20]"))
    result = cli("explore", str(scenario), "--palette", str(palette), "--report-dir", str(tmp_path))
    assert result.code == 2
    assert f"{palette}:7: faults[0].latency_ms: expected low <= high" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--time-limit", "soon"], "time-limit='soon'"),
        (["--max-examples", "0"], "--max-examples >= 1"),
    ],
)
def test_explore_refuses_bad_flags_with_exit_2(
    tmp_path: Path, cli: Cli, flags: list[str], said: str
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO_TEXT)
    palette = tmp_path / "pal.yaml"
    palette.write_text(GOOD)
    result = cli("explore", str(scenario), "--palette", str(palette), *flags)
    assert result.code == 2
    assert said in result.err


def test_a_kind_and_target_named_twice_is_refused() -> None:
    error = _error(GOOD + "  - kind: latency\n    latency_ms: 50\n")
    assert error.field == "faults[2].targets"
    assert "already in the palette" in str(error)


def test_a_surge_on_a_scenario_with_its_own_arrivals_is_refused() -> None:
    scenario = parse_scenario(
        "name: ramp\nload: {rate: 20, duration_s: 3, arrivals: {shape: ramp, to: 40}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_palette(GOOD, scenario, source="pal.yaml")
    assert caught.value.field == "faults[1].kind"
