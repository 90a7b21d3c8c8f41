"""JUnit XML, as CI systems read it: one testcase per budget of a run, or per check and per
budget of a certification, failures carrying the expected and observed values."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.verdict.results import RunResult

__all__ = ["Case", "run_cases", "write_junit"]


@dataclass(frozen=True, slots=True)
class Case:
    """One testcase: ``failure`` says why it failed, None when it passed."""

    classname: str
    name: str
    failure: str | None = None
    seconds: float = 0.0


def run_cases(result: RunResult) -> list[Case]:
    """A testcase per budget of ``result``; an invalid run fails one more, saying why."""
    cases = []
    for item in result.budgets:
        budget = item.budget
        failure = None
        if not item.passed:
            observed = item.note or f"observed {item.observed}"
            failure = f"expected {budget.expression} over {budget.phase}, {observed}"
        cases.append(Case(result.scenario, f"{budget.label} [{budget.phase}]", failure))
    if not result.valid:
        cases.append(Case(result.scenario, "valid run", "; ".join(result.notes)))
    return cases


def write_junit(path: Path, suite: str, cases: Iterable[Case], seconds: float = 0.0) -> None:
    """Write ``cases`` as one testsuite named ``suite`` to ``path``."""
    listed = list(cases)
    failures = sum(1 for case in listed if case.failure is not None)
    root = ET.Element("testsuites")
    element = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(listed)),
        failures=str(failures),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for case in listed:
        node = ET.SubElement(
            element,
            "testcase",
            classname=case.classname,
            name=case.name,
            time=f"{case.seconds:.3f}",
        )
        if case.failure is not None:
            failure = ET.SubElement(node, "failure", message=case.failure)
            failure.text = case.failure
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
