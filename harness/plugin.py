"""pytest plugin: options, the ``chaos_scenario`` marker, fixtures and verdicts in reports.

Kept light on purpose: nothing heavy (aiohttp, the engine) is imported until a fixture is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.backend import BACKENDS

if TYPE_CHECKING:
    from harness.results import RunResult
    from harness.scenario import Scenario
    from harness.topology import Topology

DEFAULT_BACKEND = "auto"


@dataclass(frozen=True, slots=True)
class ChaosSettings:
    """Effective settings, resolved once in ``pytest_configure``: flag over ini over default."""

    backend: str = DEFAULT_BACKEND
    report_dir: Path | None = None
    compose: Path | None = None


@dataclass(slots=True)
class _Verdicts:
    lines: list[str] = field(default_factory=list)


_SETTINGS = pytest.StashKey[ChaosSettings]()
_VERDICTS = pytest.StashKey[_Verdicts]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("serving-chaos", "serving-chaos resilience runs")
    group.addoption(
        "--chaos-backend",
        dest="chaos_backend",
        default=None,
        help=f"where services run: {', '.join(BACKENDS)} (default {DEFAULT_BACKEND})",
    )
    parser.addini("chaos_backend", help="default for --chaos-backend", default=None)
    group.addoption(
        "--chaos-report-dir",
        dest="chaos_report_dir",
        default=None,
        help="write results.json and report.html per scenario run under this folder",
    )
    parser.addini("chaos_report_dir", help="default for --chaos-report-dir", default=None)
    group.addoption(
        "--chaos-compose",
        dest="chaos_compose",
        default=None,
        help="docker backend: compose file giving the services' limits and environment",
    )
    parser.addini("chaos_compose", help="default for --chaos-compose", default=None)


def _resolve(config: pytest.Config) -> ChaosSettings:
    backend = config.getoption("chaos_backend") or config.getini("chaos_backend") or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise pytest.UsageError(
            f"serving-chaos: expected --chaos-backend in {list(BACKENDS)} but got {backend!r}"
        )
    report_dir = config.getoption("chaos_report_dir") or config.getini("chaos_report_dir")
    compose = config.getoption("chaos_compose") or config.getini("chaos_compose")
    return ChaosSettings(
        backend=backend,
        report_dir=Path(report_dir) if report_dir else None,
        compose=Path(compose) if compose else None,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chaos_scenario(path): run this scenario file (relative to the test file) for the "
        "chaos_result fixture",
    )
    config.stash[_SETTINGS] = _resolve(config)
    config.stash[_VERDICTS] = _Verdicts()


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[_SETTINGS]
    where = settings.report_dir or "not written"
    compose = f", compose={settings.compose}" if settings.compose else ""
    return f"serving-chaos: backend={settings.backend}, report-dir={where}{compose}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    verdicts = terminalreporter.config.stash.get(_VERDICTS, None)
    if verdicts is None or not verdicts.lines:
        return
    terminalreporter.section("serving-chaos verdicts")
    for line in verdicts.lines:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def chaos_settings(pytestconfig: pytest.Config) -> ChaosSettings:
    """The effective settings, with ``auto`` resolved to the backend this session will use.

    Override this fixture to change them per suite."""
    from harness.backend import resolve_backend

    settings = pytestconfig.stash[_SETTINGS]
    return replace(settings, backend=resolve_backend(settings.backend))


@pytest.fixture(scope="session")
def chaos_topology(chaos_settings: ChaosSettings) -> Iterator[Topology]:
    """The default topology, started once per session and torn down at its end."""
    from harness.backend import start_topology
    from harness.scenario import EndpointSpec

    with start_topology(
        EndpointSpec(), chaos_settings.backend, compose=chaos_settings.compose
    ) as topology:
        yield topology


@pytest.fixture
def chaos_proxies(chaos_topology: Topology) -> Topology:
    """The session topology with every toxic removed and every proxy enabled *before* the test."""
    chaos_topology.toxiproxy.reset()
    return chaos_topology


def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:120]


class ChaosRunner:
    """Runs scenarios for one test; a violated budget fails the test with the verdict table."""

    def __init__(self, request: pytest.FixtureRequest, settings: ChaosSettings) -> None:
        self._request = request
        self._settings = settings
        self.results: list[RunResult] = []

    def load(self, scenario: str | Path) -> Scenario:
        from harness.scenario import load_scenario

        path = Path(scenario)
        if not path.is_absolute():
            path = Path(self._request.path).parent / path
        return load_scenario(path)

    def run(self, scenario: str | Path | Scenario, *, check: bool = True) -> RunResult:
        from harness.errors import ChaosError
        from harness.report import render_text, write_reports
        from harness.runner import run_scenario

        try:
            spec = scenario if not isinstance(scenario, (str, Path)) else self.load(scenario)
            settings = self._settings
            result = run_scenario(spec, backend=settings.backend, compose=settings.compose)
        except ChaosError as exc:
            pytest.fail(f"serving-chaos could not run the scenario: {exc}", pytrace=False)
        self.results.append(result)
        node = self._request.node
        text = render_text(result)
        node.user_properties.append(("serving-chaos verdict", text))
        if self._settings.report_dir is not None:
            target = self._settings.report_dir / _slug(node.nodeid)
            if len(self.results) > 1:
                target = target / str(len(self.results))
            write_reports(result, target)
        verdicts = self._request.config.stash[_VERDICTS]
        verdicts.lines.append(
            f"{'PASS' if result.passed else 'FAIL'} {result.scenario} ({node.nodeid})"
        )
        if check and not result.passed:
            pytest.fail(text, pytrace=False)
        return result


@pytest.fixture
def chaos(request: pytest.FixtureRequest, chaos_settings: ChaosSettings) -> ChaosRunner:
    """``chaos.run("scenario.yaml")`` brings a topology up, runs, and fails on a violated budget."""
    return ChaosRunner(request, chaos_settings)


@pytest.fixture
def chaos_result(request: pytest.FixtureRequest, chaos: ChaosRunner) -> RunResult:
    """The result of the scenario named by the test's ``chaos_scenario`` marker."""
    marker = request.node.get_closest_marker("chaos_scenario")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: chaos_result needs @pytest.mark.chaos_scenario('file.yaml')"
        )
    return chaos.run(marker.args[0])
