"""One run of a scenario: load, faults, metrics sampling and a watchdog on one clock."""

from harness.run.runner import run_on, run_scenario

__all__ = ["run_on", "run_scenario"]
