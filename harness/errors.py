"""One error root for everything serving-chaos raises on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.budgets import Budget


class ChaosError(Exception):
    """Root of every error serving-chaos raises; the CLI prints these, never a traceback."""


class ScenarioError(ChaosError):
    """A scenario file or value is malformed: says where, what was expected and what was found."""

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None
    ) -> None:
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(ChaosError):
    """A command-line value is out of range; says which and what is accepted."""


class ProvisioningError(ChaosError):
    """A required tool (toxiproxy-server, Docker, an image) is missing; says how to get it."""


class TopologyError(ChaosError):
    """A service of the topology failed to start, become healthy, or be wired."""

    def __init__(self, message: str, *, logs: str = "") -> None:
        self.logs = logs
        text = message if not logs else f"{message}\n--- last log lines ---\n{logs}"
        super().__init__(text)


class BudgetViolation(ChaosError):
    """A budget did not hold; carries the budget and what was observed."""

    def __init__(self, budget: Budget, observed: Any, message: str) -> None:
        self.budget = budget
        self.observed = observed
        super().__init__(message)
