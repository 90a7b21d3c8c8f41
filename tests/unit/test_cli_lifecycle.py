"""The CLI's answers to input it refuses before starting anything: exit 2 naming what is wrong,
never a traceback. Runs that start services are in the integration tier's test_cli_lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import Cli

VALID = "name: x\nload: {rate: 5, duration_s: 3}\n"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: x\nload: {rate: -5, duration_s: 3}\n", "load.rate"),
        ("name: x\nload: {rate: 5, duration_s: 3}\nbudgets: ['p99 < 3']\n", "budgets[0]"),
        ("name: x\nload: {rate: 5, duration_s: 3}\nfaults: [{name: f, type: latency, "
         "target: nowhere, start_s: 0, duration_s: 1}]\n", "faults[0].target"),
    ],
)  # fmt: skip
def test_malformed_scenario_exits_2_naming_the_field(
    tmp_path: Path, cli: Cli, text: str, field: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    ran = cli("run", str(path))

    assert ran.code == 2, ran.out + ran.err
    assert field in ran.err
    assert str(path) in ran.err
    assert "Traceback" not in ran.err


def test_missing_file_and_bad_backend_exit_2(tmp_path: Path, cli: Cli) -> None:
    missing = cli("run", str(tmp_path / "nope.yaml"))
    assert missing.code == 2
    assert "nope.yaml" in missing.err
    assert "Traceback" not in missing.err
    path = tmp_path / "valid.yaml"
    path.write_text(VALID)
    backend = cli("run", str(path), "--backend", "kubernetes")
    assert backend.code == 2
    assert "kubernetes" in backend.err
