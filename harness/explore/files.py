"""The files of an exploration: the log of every example (explore.jsonl), the summary
(explore.json), and for a failure the smallest schedule as a complete scenario file
(minimal.yaml, or flaky.yaml when it did not come back) with its run's results.json and
report.html."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from harness.explore.examples import Example, describe_schedule
from harness.explore.search import FLAKY, FOUND, Exploration
from harness.report.files import write_reports
from harness.scenario.write import scenario_to_yaml

__all__ = ["ExampleLog", "write_exploration"]


class ExampleLog:
    """Appends one JSON line per example to ``path`` as the search goes, so a search that is
    stopped still leaves what it tried."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("w")

    def write(self, example: Example) -> None:
        self._file.write(json.dumps(example.to_json()) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _header(exploration: Exploration, command: str) -> str:
    result = exploration.result
    broken = (
        []
        if result is None
        else [
            f"  {b.budget.label} [{b.budget.phase}]: observed {b.observed:.4g}"
            for b in result.failed_budgets
            if b.observed is not None
        ]
    )
    lines = [
        f"Found by `{command}` on {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"after {exploration.runs} examples in {exploration.elapsed_s:.0f}s.",
        f"Smallest schedule: {describe_schedule(exploration.minimal or ())}",
    ]
    if exploration.outcome == FLAKY:
        lines.append("FLAKY: it broke once and held on the rerun. It broke:")
    else:
        lines.append("It breaks (reproduced on a rerun):")
    lines.extend(broken)
    lines.append("Run it again with: serving-chaos run THIS_FILE")
    return "\n".join(lines)


def write_exploration(
    exploration: Exploration, directory: Path, *, command: str, original_text: str | None
) -> list[Path]:
    """Write the summary and, for a failure, the scenario and its reports; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary = directory / "explore.json"
    summary.write_text(json.dumps(exploration.to_json(), indent=2) + "\n")
    written.append(summary)
    if exploration.outcome not in (FOUND, FLAKY) or exploration.scenario is None:
        return written
    name = "minimal.yaml" if exploration.outcome == FOUND else "flaky.yaml"
    scenario_file = directory / name
    scenario_file.write_text(
        scenario_to_yaml(
            exploration.scenario,
            original_text=original_text,
            header=_header(exploration, command),
        )
    )
    written.append(scenario_file)
    if exploration.result is not None:
        written.extend(write_reports(exploration.result, directory))
    return written
