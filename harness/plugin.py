"""pytest plugin: options, the ``chaos_scenario`` marker, fixtures and verdicts in reports.

Kept light on purpose: nothing heavy (aiohttp, the engine) is imported until a fixture is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import BudgetViolation
from harness.system.backends import BACKENDS

if TYPE_CHECKING:
    from harness.loadgen.ray_shards import Workers
    from harness.scenario import Scenario
    from harness.system import HostSettings, Topology
    from harness.verdict.results import RunResult

__all__ = [
    "DEFAULT_BACKEND",
    "ChaosRunner",
    "ChaosSettings",
    "chaos",
    "chaos_proxies",
    "chaos_result",
    "chaos_settings",
    "chaos_topology",
    "pytest_addoption",
    "pytest_configure",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
]

DEFAULT_BACKEND = "auto"


@dataclass(frozen=True, slots=True)
class ChaosSettings:
    """Effective settings, resolved once in ``pytest_configure``: flag over ini over default."""

    backend: str = DEFAULT_BACKEND
    report_dir: Path | None = None
    compose: Path | None = None
    # What the host says (toxiproxy-server, base image), read once at configure time.
    host: HostSettings | None = None
    # Ray shards for every run's load (--chaos-workers ray); None: this process sends it.
    workers: Workers | None = None


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
    group.addoption(
        "--chaos-workers",
        dest="chaos_workers",
        default=None,
        help="send each run's load from Ray shards: ray (a local Ray) or ray://HOST:PORT "
        "(pip install 'serving-chaos[ray]')",
    )
    parser.addini("chaos_workers", help="default for --chaos-workers", default=None)


def _resolve(config: pytest.Config) -> ChaosSettings:
    backend = config.getoption("chaos_backend") or config.getini("chaos_backend") or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise pytest.UsageError(
            f"serving-chaos: expected --chaos-backend in {list(BACKENDS)} but got {backend!r}"
        )
    report_dir = config.getoption("chaos_report_dir") or config.getini("chaos_report_dir")
    compose = config.getoption("chaos_compose") or config.getini("chaos_compose")
    compose_path = Path(compose) if compose else None
    from harness.errors import UsageError
    from harness.loadgen.ray_shards import ray_workers
    from harness.system.settings import HostSettings

    wanted = config.getoption("chaos_workers") or config.getini("chaos_workers") or None
    try:
        workers = ray_workers(wanted)
    except UsageError as exc:
        raise pytest.UsageError(f"serving-chaos: --chaos-workers: {exc}") from exc

    return ChaosSettings(
        backend=backend,
        report_dir=Path(report_dir) if report_dir else None,
        compose=compose_path,
        host=HostSettings.from_environment(compose=compose_path),
        workers=workers,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _hypothesis_profiles(config)
    config.addinivalue_line(
        "markers",
        "chaos_scenario(path): run this scenario file (relative to the test file) for the "
        "chaos_result fixture",
    )
    config.stash[_SETTINGS] = _resolve(config)
    config.stash[_VERDICTS] = _Verdicts()


def _hypothesis_profiles(config: pytest.Config) -> None:
    """Register the Hypothesis profiles ``serving-chaos-ci`` and ``serving-chaos-deep`` before
    Hypothesis's own plugin loads the one ``--hypothesis-profile`` names. Only then: importing
    Hypothesis costs a test session that does not use it. ``faults.strategies`` registers them
    too, for a conftest that loads one itself."""
    profile = config.getoption("--hypothesis-profile", default=None)
    if isinstance(profile, str) and profile.startswith("serving-chaos-"):
        from faults.strategies import register_profiles

        register_profiles()


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
    from harness.system.backends import resolve_backend

    settings = pytestconfig.stash[_SETTINGS]
    return replace(settings, backend=resolve_backend(settings.backend))


@pytest.fixture(scope="session")
def chaos_topology(chaos_settings: ChaosSettings) -> Iterator[Topology]:
    """The default system (the reference endpoint and its feature store behind Toxiproxy),
    started once per session and torn down at its end. ``chaos.run`` reuses it for every
    scenario that runs against this very system."""
    from harness.system import SystemSpec, backend_for, bring_up, open_backend

    system = SystemSpec()
    backend = backend_for(system, chaos_settings.backend)
    with bring_up(system, open_backend(backend, _host(chaos_settings))) as topology:
        yield topology


@pytest.fixture
def chaos_proxies(chaos_topology: Topology) -> Topology:
    """The session topology reset *before* the test: services resumed, every proxy enabled
    with no toxic, every stub's HTTP fault cleared."""
    chaos_topology.reset()
    return chaos_topology


def _host(settings: ChaosSettings) -> HostSettings:
    from harness.system.settings import HostSettings

    return settings.host if settings.host is not None else HostSettings()


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

    def run(
        self,
        scenario: str | Path | Scenario,
        *,
        check: bool = True,
        client: Callable[..., Any] | str | None = None,
    ) -> RunResult:
        """Run ``scenario``; with ``check``, a violated budget raises BudgetViolation (its
        message is the verdict table; ``.budget``, ``.phase`` and ``.observed`` say which).
        ``client`` puts your own client under test: a function ``call(url, payload)``, sync or
        async, a ``module:function`` path or a reference client's name."""
        from harness.errors import ChaosError
        from harness.report import render_text, write_reports
        from harness.scenario import with_client

        try:
            spec = scenario if not isinstance(scenario, (str, Path)) else self.load(scenario)
            if client is not None:
                spec = with_client(spec, client)
            result = self._run(spec)
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
            _raise_violation(result, text)
        return result

    def _run(self, spec: Scenario) -> RunResult:
        """On the session topology when the scenario's system is that one (and its faults need
        no container limits); on a system of its own otherwise."""
        from harness.run.runner import run_on, run_scenario
        from harness.system import SystemSpec

        settings = self._settings
        limits = spec.needs_limits
        if spec.system == SystemSpec() and not limits:
            topology: Topology = self._request.getfixturevalue("chaos_topology")
            return run_on(topology, spec, workers=settings.workers)
        return run_scenario(
            spec, backend=settings.backend, settings=_host(settings), workers=settings.workers
        )


def _raise_violation(result: RunResult, text: str) -> None:
    failed = result.failed_budgets
    if not failed:
        # Every budget held but the run itself is invalid (the generator fell behind).
        pytest.fail(text, pytrace=False)
    first = failed[0]
    raise BudgetViolation(first.budget, first.observed, text, result=result)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A violated budget reads as the verdict table, not as a traceback into the harness."""
    report: pytest.TestReport = yield
    if report.failed and call.excinfo is not None:
        violation = call.excinfo.value
        if isinstance(violation, BudgetViolation):
            report.longrepr = str(violation)
    return report


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
