"""README's examples are tests: the plugin snippet runs as written against the shipped scenario,
and the scenario example shows that scenario whole, with a verdict table row for each budget."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.scenario import Scenario, load_scenario, parse_scenario
from harness.scenario.budgets import format_limit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The box-drawing characters rich puts between a table's cells.
_CELL_EDGE = re.compile(r"\s*[│┃]\s*")


def _section(title: str) -> str:
    """The README's ``## title`` section, up to the next section of the same level."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _blocks(text: str, language: str = "") -> list[str]:
    """The fenced code blocks of ``text`` tagged ``language`` ("" for untagged ones)."""
    found: list[str] = []
    opened: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        if opened is None and line.startswith("```"):
            opened = (line[3:].strip(), [])
        elif opened is not None and line.strip() == "```":
            if opened[0] == language:
                found.append("".join(f"{body}\n" for body in opened[1]))
            opened = None
        elif opened is not None:
            opened[1].append(line)
    return found


def _example_scenario(section: str) -> Scenario:
    """The shipped scenario the section names in `suites/scenarios/...yaml`."""
    (path,) = set(re.findall(r"`(suites/scenarios/[\w.-]+\.yaml)`", section))
    return load_scenario(ROOT / path)


def test_readme_plugin_example_passes(pytester: pytest.Pytester) -> None:
    (snippet,) = _blocks(README.read_text(), "python")
    scenarios = pytester.path / "scenarios"
    scenarios.mkdir()
    shutil.copy(ROOT / "suites" / "scenarios" / "feature_store_latency.yaml", scenarios)
    pytester.makepyfile(test_readme_example=snippet)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_readme_scenario_block_is_the_shipped_scenario() -> None:
    section = _section("A scenario")
    shipped = _example_scenario(section)
    (block,) = _blocks(section, "yaml")

    # Parsed, so the example may lay the YAML out more compactly and comment on it, but every
    # setting, fault and budget it shows is the shipped file's, and none is left out.
    assert parse_scenario(block, source=shipped.source) == shipped


def test_readme_verdict_table_has_a_true_row_for_every_budget() -> None:
    section = _section("A scenario")
    shipped = _example_scenario(section)
    (output,) = _blocks(section)
    command, *lines = output.splitlines()

    assert command.startswith("$ ")
    assert f" run {Path(shipped.source).relative_to(ROOT)} " in command
    backend = re.search(r"--backend (\w+)", command)
    assert backend is not None
    load = shipped.load
    started = f"serving-chaos: {shipped.name}: {load.rate:g} req/s for {load.duration_s:g}s"
    assert f"{started} on the {backend.group(1)} backend" in lines
    (title,) = [line for line in lines if line.startswith(f"{shipped.name} [")]
    assert title.startswith(f"{shipped.name} [{backend.group(1)}]: ")
    # A constant open-loop rate offers rate x duration requests, and the summary counts them.
    (summary,) = [line for line in lines if line.startswith("requests ")]
    assert summary.startswith(f"requests {load.rate * load.duration_s:g} ")
    rows = [_CELL_EDGE.split(line.strip(" │┃"))
            for line in lines if line.startswith(("│", "┃"))]  # fmt: skip
    assert rows[0] == ["budget", "phase", "observed", "limit", "result"]
    body = rows[1:]

    # Every budget of the scenario, in its order, and nothing it does not have.
    expected = [[b.label, b.phase, f"{b.op} {format_limit(b.limit)}"] for b in shipped.budgets]
    assert [[label, phase, limit] for label, phase, _, limit, _ in body] == expected
    # Each shown result is what its observed value gives, and the verdict is theirs.
    for budget, (_, _, observed, _, shown) in zip(shipped.budgets, body, strict=True):
        holds = budget.holds(float(observed.replace(",", "")))
        assert shown == ("pass" if holds else "FAIL"), (budget.label, budget.phase, observed)
    verdict = "PASS" if all(row[-1] == "pass" for row in body) else "FAIL"
    assert title.endswith(f": {verdict}")
