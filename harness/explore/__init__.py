"""Exploration: Hypothesis searches fault schedules drawn from a palette for one that breaks a
scenario's budgets, shrinks it to the smallest that still does, and hands it back as a
scenario file."""

from harness.explore.examples import Example, base_scenario, describe_schedule, with_schedule
from harness.explore.files import ExampleLog, write_exploration
from harness.explore.palette_file import load_palette, parse_palette
from harness.explore.search import (
    FLAKY,
    FOUND,
    NONE_FOUND,
    Exploration,
    ExploreOptions,
    explore,
    parse_time_limit,
)

__all__ = [
    "FLAKY",
    "FOUND",
    "NONE_FOUND",
    "Example",
    "ExampleLog",
    "Exploration",
    "ExploreOptions",
    "base_scenario",
    "describe_schedule",
    "explore",
    "load_palette",
    "parse_palette",
    "parse_time_limit",
    "with_schedule",
    "write_exploration",
]
