"""One certification: the spec's system brought up once, each check run on it in order, the
certificate written."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from harness.certify.certificate import Certificate
from harness.certify.checks import Certifier, CheckResult
from harness.certify.spec import ReadinessSpec
from harness.loadgen.ray_shards import Workers
from harness.system import HostSettings, backend_for, bring_up, open_backend

__all__ = ["certify"]


def certify(
    spec: ReadinessSpec,
    *,
    backend: str = "auto",
    settings: HostSettings | None = None,
    say: Callable[[str], None] = lambda line: None,
    workers: Workers | None = None,
) -> Certificate:
    """Run every check of ``spec`` on one running system; torn down however it ends."""
    if spec.scenario is None:
        raise ValueError("a readiness spec read by load_readiness expected")
    host = settings if settings is not None else HostSettings.from_environment()
    system = spec.scenario.system
    concrete = backend_for(system, backend)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    results: list[CheckResult] = []
    with bring_up(system, open_backend(concrete, host)) as topology:
        certifier = Certifier(spec, topology, say, workers)
        steps: dict[str, Callable[[], CheckResult]] = {
            "baseline": certifier.run_baseline,
            "capacity": certifier.run_capacity,
            "concurrency": certifier.run_concurrency,
            "surge": certifier.run_surge,
            "dependencies": certifier.run_dependencies,
            "restart": certifier.run_restart,
            "cold_start": certifier.run_cold_start,
        }
        # The baseline is every other check's reference: it runs first even when not asked.
        names = spec.checks if "baseline" in spec.checks else ("baseline", *spec.checks)
        for name in names:
            say(f"check {name}")
            result = steps[name]()
            if name in spec.checks:
                results.append(result)
            say(f"  {name}: {result.to_json()['verdict']}: {result.summary}")
    return Certificate(spec, results, concrete, started, time.monotonic() - clock)
