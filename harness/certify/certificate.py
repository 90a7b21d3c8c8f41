"""What a certification produced: certificate.json (goal, each check's verdict with the numbers
that decided it, the recommended provisioned concurrency, the environment, the spec's SHA-256)
and certificate.html, one page, verdict first."""

from __future__ import annotations

import html
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.certify.checks import CheckResult
from harness.certify.spec import ReadinessSpec
from harness.report.junit import Case, write_junit
from harness.verdict.results import harness_version

__all__ = ["Certificate", "write_certificate"]


@dataclass(frozen=True, slots=True)
class Certificate:
    spec: ReadinessSpec
    checks: list[CheckResult]
    backend: str
    started_at: str
    duration_s: float

    @property
    def ready(self) -> bool:
        return all(check.passed is not False for check in self.checks)

    def recommendation(self) -> dict[str, Any]:
        """Provisioned concurrency: at least target x mean latency (Little's law on the
        baseline), at most what carries twice the target (a surge) at the concurrency sweep's
        throughput per unit of concurrency."""
        found = {check.name: check.numbers for check in self.checks}
        sweep = found.get("concurrency", {})
        minimum = sweep.get("required_concurrency")
        knee, knee_rps = sweep.get("knee_concurrency"), sweep.get("knee_throughput_rps")
        maximum = None
        if knee and knee_rps:
            maximum = math.ceil(2 * self.spec.goal.target_qps / (knee_rps / knee))
        return {
            "min_provisioned_concurrency": minimum,
            "max_provisioned_concurrency": maximum,
            "capacity_rps": found.get("capacity", {}).get("capacity_rps"),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "name": self.spec.name,
            "spec": {"source": self.spec.source, "sha256": self.spec.sha256},
            "goal": self.spec.goal.to_json(),
            "profile": self.spec.profile.name,
            "checks": [check.to_json() for check in self.checks],
            "recommendation": self.recommendation(),
            "environment": {
                "backend": self.backend,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "harness_version": harness_version(),
            },
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 1),
        }


def write_certificate(
    certificate: Certificate, out_dir: Path, junit: Path | None = None
) -> list[Path]:
    """certificate.json and certificate.html in ``out_dir``; JUnit XML at ``junit`` if asked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = certificate.to_json()
    written = [out_dir / "certificate.json", out_dir / "certificate.html"]
    written[0].write_text(json.dumps(data, indent=2, default=str) + "\n")
    written[1].write_text(_html(data))
    if junit is not None:
        write_junit(
            junit, f"certify {certificate.spec.name}", _cases(certificate), certificate.duration_s
        )
        written.append(junit)
    return written


def _cases(certificate: Certificate) -> list[Case]:
    cases = []
    for check in certificate.checks:
        failure = None if check.passed is not False else check.summary
        cases.append(Case("certify", check.name, failure))
        for budget in check.budgets:
            budget_failure = None
            if not budget["passed"]:
                budget_failure = (
                    f"expected {budget['expression']} over {budget['phase']}, "
                    f"observed {budget['observed']} {budget['note']}".rstrip()
                )
            name = f"{budget['scenario']}: {budget['name']} [{budget['phase']}]"
            cases.append(Case(f"certify.{check.name}", name, budget_failure))
    return cases


def _html(data: dict[str, Any]) -> str:
    verdict = "READY" if data["ready"] else "NOT READY"
    rows = "".join(
        f'<tr><td>{html.escape(c["name"])}</td><td class="{c["verdict"]}">{c["verdict"]}</td>'
        f'<td style="text-align:left">{html.escape(c["summary"])}</td></tr>'
        for c in data["checks"]
    )
    details = "".join(_check_html(c) for c in data["checks"])
    goal = ", ".join(f"{k} {v}" for k, v in data["goal"].items() if v is not None)
    recommended = ", ".join(f"{k} {v}" for k, v in data["recommendation"].items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data["name"])}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}.pass,.READY{{color:#1a7f37}}
.fail,.NOT{{color:#cf222e}}</style></head><body>
<h1>{html.escape(data["name"])}: <span class="{verdict.split()[0]}">{verdict}</span></h1>
<p>goal: {html.escape(goal)}; profile {html.escape(data["profile"])}; backend
{html.escape(data["environment"]["backend"])}; spec {html.escape(data["spec"]["source"])}
(sha256 {data["spec"]["sha256"][:16]}...); {data["started_at"]}, {data["duration_s"]} s</p>
<p>recommended: {html.escape(recommended)}</p>
<table><thead><tr><th>check</th><th>verdict</th><th>why</th></tr></thead><tbody>{rows}</tbody>
</table>{details}</body></html>
"""


def _check_html(check: dict[str, Any]) -> str:
    curve = check.get("curve") or []
    chart = ""
    if curve:
        x_key = "rate" if "rate" in curve[0] else "concurrency"
        y_key = "p99_ms" if x_key == "rate" else "throughput_rps"
        chart = _chart(curve, x_key, y_key)
    numbers = html.escape(json.dumps(check["numbers"], default=str))
    return f"<h2>{html.escape(check['name'])}</h2><p><code>{numbers}</code></p>{chart}"


def _chart(curve: list[dict[str, Any]], x_key: str, y_key: str) -> str:
    points = [(float(p[x_key]), float(p[y_key])) for p in curve if p.get(y_key) is not None]
    if not points:
        return ""
    width, height = 480.0, 160.0
    x_max = max(x for x, _ in points) or 1.0
    y_max = (max(y for _, y in points) or 1.0) * 1.1
    line = " ".join(f"{x / x_max * width:.1f},{height - y / y_max * height:.1f}" for x, y in points)
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="{y_key} by {x_key}">'
        f'<polyline fill="none" stroke="#0b5394" stroke-width="2" points="{line}"/>'
        f'<text x="4" y="14" font-size="12">{y_key} by {x_key} (max {y_max / 1.1:.1f})</text></svg>'
    )
