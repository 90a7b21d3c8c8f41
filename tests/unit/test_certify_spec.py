"""Readiness specs: read into a goal, checks and profile on top of a system a scenario would
accept; a bad spec is refused with its file, line and field (exit 2), before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.certify import CHECKS, load_readiness
from harness.certify.checks import template_text
from harness.errors import ScenarioError
from tests.cli import Cli

SHIPPED = Path(__file__).resolve().parents[2] / "suites" / "specs" / "reference_endpoint.yaml"


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_the_shipped_spec_reads_with_its_goal_and_checks() -> None:
    spec = load_readiness(SHIPPED)
    assert spec.goal.target_qps == 50
    assert spec.goal.p99_ms == 300
    assert spec.checks == CHECKS
    assert spec.profile.name == "fast"
    assert spec.scenario is not None
    assert spec.scenario.endpoint.concurrency == 4
    assert len(spec.sha256) == 64
    assert load_readiness(SHIPPED, profile="thorough").profile.name == "thorough"


def test_every_check_has_a_readable_template_under_suites_readiness() -> None:
    folder = Path(__file__).resolve().parents[2] / "suites" / "readiness"
    for name in ("baseline", "capacity", "surge", "dependency", "restart"):
        assert (folder / f"{name}.yaml").read_text() == template_text(name)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("name: x\n", "goal", "required"),
        ("name: x\ngoal: {target_qps: 0, p99_ms: 100}\n", "goal.target_qps", "> 0"),
        ("name: x\ngoal: {target_qps: 5, p99_ms: 100, error_rate: 2}\n", "goal.error_rate", "<= 1"),
        ("name: x\ngoal: {target_qps: 5, p99_ms: 100}\nchecks: [speed]\n", "checks[0]", "speed"),
        ("name: x\ngoal: {target_qps: 5, p99_ms: 100}\nprofile: slow\n", "profile", "slow"),
        ("name: x\ngoal: {target_qps: 5, p99_ms: 100}\nload: {rate: 1}\n", "load", "unknown"),
        ("name: x\ngoal: {target_qps: 5, p99_ms: 100}\nendpoint: {concurrency: 0}\n",
         "endpoint.concurrency", "concurrency"),
        ("name: x\ntarget: {url: 'http://127.0.0.1:1'}\ngoal: {target_qps: 5, p99_ms: 100}\n"
         "checks: [dependencies]\n", "checks", "at least one dependency"),
    ],
)  # fmt: skip
def test_a_bad_spec_names_its_field_and_line(
    tmp_path: Path, text: str, field: str, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_readiness(_spec(tmp_path, text))
    assert info.value.field == field
    assert fragment in str(info.value)


def test_certify_refuses_a_bad_spec_with_exit_2(tmp_path: Path, cli: Cli) -> None:
    path = _spec(tmp_path, "name: x\ngoal: {target_qps: -1, p99_ms: 100}\n")
    result = cli("certify", str(path))
    assert result.code == 2
    assert f"{path}:2: goal.target_qps" in result.err
    assert "Traceback" not in result.err


def test_the_readme_shows_the_shipped_spec_whole() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Certify readiness") : readme.index("## Shipped scenarios")]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shipped = yaml.safe_load(SHIPPED.read_text())
    assert yaml.safe_load(block) == shipped
