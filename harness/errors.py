"""One error root for everything serving-chaos raises on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenario.budgets import Budget

__all__ = [
    "BudgetViolation",
    "ChaosError",
    "HarnessServiceLost",
    "ProvisioningError",
    "ScenarioError",
    "TopologyError",
    "UsageError",
    "transport_cause",
]


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


class HarnessServiceLost(TopologyError):
    """A service the harness itself depends on (Toxiproxy) died during a run: the run is
    invalid. ``result`` holds the RunResult of what was measured until then (typed loosely:
    errors sit below everything else and import none of it)."""

    def __init__(self, service: str, message: str, *, logs: str = "", result: Any) -> None:
        self.service = service
        self.result = result
        super().__init__(message, logs=logs)


class BudgetViolation(ChaosError):
    """A budget did not hold: carries the budget (with its phase), what was observed, every
    violated budget's result and the whole run's result."""

    def __init__(
        self,
        budget: Budget,
        observed: Any,
        message: str,
        *,
        result: Any = None,
    ) -> None:
        self.budget = budget
        self.observed = observed
        self.result = result
        super().__init__(message)

    @property
    def phase(self) -> str:
        return self.budget.phase


def transport_cause(exc: BaseException, timeout_s: float) -> str:
    """What went wrong talking to a service, for a "(caused by ...)" clause: a timeout says
    how long was waited; anything else names its type and message."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)
