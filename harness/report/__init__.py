"""What a run looks like to people: the verdict table in a terminal, report.html, and the
files of a run."""

from harness.report.files import write_reports
from harness.report.html import render_html
from harness.report.terminal import explain_failures, print_verdict, render_text, verdict_table

__all__ = [
    "explain_failures",
    "print_verdict",
    "render_html",
    "render_text",
    "verdict_table",
    "write_reports",
]
