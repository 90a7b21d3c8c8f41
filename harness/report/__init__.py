"""What a run looks like to people: the verdict table in a terminal, report.html, the files
of a run, two runs compared, and a run's figures as Prometheus metrics."""

from harness.report.compare import (
    Comparison,
    Tolerance,
    compare_runs,
    load_run,
    parse_tolerance,
    print_comparison,
    write_comparison,
)
from harness.report.files import write_reports
from harness.report.html import render_html
from harness.report.metrics_export import (
    ExportError,
    certificate_registry,
    push_metrics,
    run_registry,
    write_textfile,
)
from harness.report.terminal import explain_failures, print_verdict, render_text, verdict_table

__all__ = [
    "Comparison",
    "ExportError",
    "Tolerance",
    "certificate_registry",
    "compare_runs",
    "explain_failures",
    "load_run",
    "parse_tolerance",
    "print_comparison",
    "print_verdict",
    "push_metrics",
    "render_html",
    "render_text",
    "run_registry",
    "verdict_table",
    "write_comparison",
    "write_reports",
    "write_textfile",
]
