"""A readiness spec: the system to certify (any target a scenario takes, with its dependencies),
the goal it must meet, which checks to run and how long each runs (the profile)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError
from harness.scenario import Scenario, parse_scenario
from harness.scenario.reader import Reader

__all__ = ["CHECKS", "PROFILES", "Goal", "Profile", "ReadinessSpec", "load_readiness"]

CHECKS = (
    "baseline",
    "capacity",
    "concurrency",
    "surge",
    "dependencies",
    "restart",
    "cold_start",
)
# The keys of a spec that describe the system, read as a scenario reads them.
_SYSTEM_KEYS = ("endpoint", "target", "dependencies")
_OWN_KEYS = ("name", "description", "goal", "checks", "profile", "cold_start")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


@dataclass(frozen=True, slots=True)
class Goal:
    """What ready means: ``target_qps`` within ``p99_ms`` (and ``p50_ms``) at ``error_rate``."""

    target_qps: float
    p99_ms: float
    error_rate: float = 0.01
    p50_ms: float | None = None
    # How much a failing dependency may raise the error rate while it fails.
    degraded_error_rate: float = 0.05
    # How soon after a surge, a dependency's failure or a restart it must be back to baseline.
    recovery_s: float = 10.0
    # How long the first call after a scale to zero may take; None: measured, not judged.
    cold_start_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target_qps": self.target_qps,
            "p99_ms": self.p99_ms,
            "p50_ms": self.p50_ms,
            "error_rate": self.error_rate,
            "degraded_error_rate": self.degraded_error_rate,
            "recovery_s": self.recovery_s,
            "cold_start_s": self.cold_start_s,
        }


@dataclass(frozen=True, slots=True)
class Profile:
    """How long each check runs: ``fast`` for CI (the reference endpoint certifies in under
    3 minutes on 2 cores), ``thorough`` for the real go-live question."""

    name: str
    baseline_s: float
    probe_s: float
    bisections: int
    sweep_s: float
    max_concurrency: int
    surge_s: float
    dependency_s: float
    restart_s: float


PROFILES: Mapping[str, Profile] = {
    "fast": Profile("fast", 4, 3, 3, 2, 32, 8, 8, 6),
    "thorough": Profile("thorough", 30, 20, 4, 15, 256, 60, 40, 60),
}


@dataclass(frozen=True, slots=True)
class ReadinessSpec:
    name: str
    goal: Goal
    checks: tuple[str, ...]
    profile: Profile
    # The system sections as written, merged into every check's scenario.
    system: dict[str, Any] = field(default_factory=dict)
    # The system as a scenario sees it (validated), and the spec's own digest.
    scenario: Scenario | None = None
    source: str = "<spec>"
    sha256: str = ""
    # Seconds without traffic after which a target of the user's scales to zero (None: it
    # does not say; the reference endpoint's own settings say it for it).
    idle_s: float | None = None

    @property
    def dependency_names(self) -> tuple[str, ...]:
        return () if self.scenario is None else self.scenario.system.dependency_names


def load_readiness(path: str | Path, *, profile: str | None = None) -> ReadinessSpec:
    """Read and validate a readiness spec; errors name the file, line and field."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ScenarioError(
            f"cannot read readiness spec: {exc.strerror}", source=str(file)
        ) from exc
    text = data.decode(errors="replace")
    reader = Reader(str(file), text)
    doc = reader.mapping(yaml.safe_load(text), "")
    reader.known_keys(doc, "", {*_OWN_KEYS, *_SYSTEM_KEYS})
    goal = _goal(reader, doc.get("goal"))
    chosen = profile or str(doc.get("profile", "fast"))
    if chosen not in PROFILES:
        raise reader.error("profile", f"expected one of {sorted(PROFILES)} but got {chosen!r}")
    checks = _checks(reader, doc.get("checks"))
    # The system sections are read by the scenario reader itself, on the spec's own lines: the
    # spec's other keys are blanked out (keeping the line numbers) and a nominal load added.
    scenario = parse_scenario(
        _system_only(text) + "load: {rate: 1, duration_s: 1}\n", source=str(file)
    )
    if "dependencies" in checks and not scenario.system.dependency_names:
        raise reader.error("checks", "the dependencies check needs at least one dependency")
    idle_s = None
    if doc.get("cold_start") is not None:
        cold = reader.mapping(doc["cold_start"], "cold_start")
        reader.known_keys(cold, "cold_start", {"idle_s"})
        idle_s = float(reader.number(cold, "idle_s", "cold_start", minimum=0))
    return ReadinessSpec(
        name=reader.text(doc, "name", ""),
        goal=goal,
        checks=checks,
        profile=PROFILES[chosen],
        system={key: doc[key] for key in _SYSTEM_KEYS if key in doc},
        scenario=scenario,
        source=str(file),
        sha256=hashlib.sha256(data).hexdigest(),
        idle_s=idle_s,
    )


def _goal(reader: Reader, raw: Any) -> Goal:
    if raw is None:
        raise reader.error("goal", "required: {target_qps, p99_ms, error_rate, p50_ms}")
    doc = reader.mapping(raw, "goal")
    reader.known_keys(
        doc,
        "goal",
        {
            "target_qps",
            "p99_ms",
            "p50_ms",
            "error_rate",
            "degraded_error_rate",
            "recovery_s",
            "cold_start_s",
        },
    )
    error_rate = float(reader.number(doc, "error_rate", "goal", default=0.01, minimum=0))
    degraded = float(reader.number(doc, "degraded_error_rate", "goal", default=0.05, minimum=0))
    for key, value in (("error_rate", error_rate), ("degraded_error_rate", degraded)):
        if value > 1:
            raise reader.error(f"goal.{key}", f"expected {key} <= 1 but got {key}={value!r}")
    p50 = doc.get("p50_ms")
    return Goal(
        target_qps=float(reader.number(doc, "target_qps", "goal", minimum=0, exclusive=True)),
        p99_ms=float(reader.number(doc, "p99_ms", "goal", minimum=0, exclusive=True)),
        error_rate=error_rate,
        p50_ms=None
        if p50 is None
        else float(reader.number(doc, "p50_ms", "goal", minimum=0, exclusive=True)),
        degraded_error_rate=degraded,
        recovery_s=float(reader.number(doc, "recovery_s", "goal", default=10.0, minimum=0)),
        cold_start_s=None
        if doc.get("cold_start_s") is None
        else float(reader.number(doc, "cold_start_s", "goal", minimum=0, exclusive=True)),
    )


def _checks(reader: Reader, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return CHECKS
    if not isinstance(raw, list) or not raw:
        raise reader.error("checks", f"expected a non-empty list among {list(CHECKS)}")
    for index, name in enumerate(raw):
        if name not in CHECKS:
            raise reader.error(
                f"checks[{index}]", f"expected one of {list(CHECKS)} but got {name!r}"
            )
    return tuple(name for name in CHECKS if name in raw)


def _system_only(text: str) -> str:
    """``text`` with the spec's own top-level keys blanked, line for line."""
    lines = text.splitlines()
    keep = True
    out = []
    for line in lines:
        top = _TOP_KEY.match(line)
        if top:
            keep = top.group(1) not in _OWN_KEYS or top.group(1) == "name"
        out.append(line if keep else "")
    return "\n".join(out) + "\n"
