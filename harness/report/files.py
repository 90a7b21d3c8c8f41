"""The files of a run: results.json and report.html in one folder."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.html import render_html
from harness.verdict.results import RunResult

__all__ = ["write_reports"]


def write_reports(result: RunResult, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data = result.to_json()
    results_path = directory / "results.json"
    results_path.write_text(json.dumps(data, indent=2) + "\n")
    report_path = directory / "report.html"
    report_path.write_text(render_html(data))
    return results_path, report_path
