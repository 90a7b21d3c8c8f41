"""The report of a real run, opened in a real headless chromium with networking off: every chart
is drawn with data, axes titled with units, nothing but the file is requested, the console
stays clean, hover shows the values, and the charts still draw with scripts off. Both for a run
of whole answers and for one of chat streams against the reference endpoint's LLM mode.

Skips with the reason when no chromium is installed (scripts/provision_browser.sh installs
Debian's) or playwright, from the dev extra, is missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.report.figures import Absent, figures
from harness.run.runner import run_scenario
from harness.scenario import load_scenario

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "suites/scenarios"
UNIT = re.compile(r"\(.+\)$")


@dataclasses.dataclass(frozen=True, slots=True)
class _Shipped:
    """A shipped scenario to run: its one fault's name (the band every time chart shows), the
    charts any run of it draws, and a chart whose hover is read (its key, series, timeline key)."""

    file: str
    fault: str
    always_drawn: frozenset[str]
    hover: tuple[str, str, str]


WHOLE = _Shipped(
    "feature_store_latency.yaml",
    "feature-store-slow",
    frozenset({"latency", "rate", "responses", "distribution"}),
    ("latency", "p99", "p99_ms"),
)
STREAMS = _Shipped(
    "llm_streaming_surge.yaml",
    "surge",
    WHOLE.always_drawn | {"ttft", "itl", "tokens", "sequences", "kv_cache"},
    ("ttft", "TTFT p99", "ttft_p99_ms"),
)


def _chromium() -> str:
    for name in (os.environ.get("SERVING_CHAOS_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    pytest.skip("no chromium found: scripts/provision_browser.sh installs Debian's")


def _playwright() -> Any:
    return pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )


@pytest.fixture(scope="module", params=[WHOLE, STREAMS], ids=["whole", "streams"])
def shipped(request: pytest.FixtureRequest) -> _Shipped:
    found: _Shipped = request.param
    return found


@pytest.fixture(scope="module")
def report(shipped: _Shipped, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped scenario, shortened to 8 s with its fault from 2 s to 5 s. Run before the
    browser starts: playwright's driver holds this thread's event loop."""
    _chromium()
    _playwright()
    scenario = load_scenario(SCENARIOS / shipped.file)
    (fault,) = scenario.faults
    short = dataclasses.replace(
        scenario,
        # A busy 2-core machine may make the generator late; that is not what is tested here.
        load=dataclasses.replace(scenario.load, duration_s=8.0, max_lag_ms=100.0),
        faults=(dataclasses.replace(fault, start_s=2.0, duration_s=3.0),),
    )
    out = tmp_path_factory.mktemp("report")
    run_scenario(short, backend="process", report_dir=out)
    return out


@pytest.fixture(scope="module")
def browser(report: Path) -> Iterator[Browser]:
    with _playwright().sync_playwright() as driver:
        # Names resolve nowhere and any proxy use fails: nothing could be fetched if tried.
        launched = driver.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"],
        )
        try:
            yield launched
        finally:
            launched.close()


def _results(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report / "results.json").read_text())
    return data


class _Opened:
    """A page of the report with every request and console message it made."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")


def _open(browser: Browser, report: Path, *, scripts: bool = True) -> Iterator[_Opened]:
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, java_script_enabled=scripts
    )
    context.set_offline(True)
    try:
        opened = _Opened(context.new_page())
        opened.page.goto((report / "report.html").as_uri())
        yield opened
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, report: Path) -> Iterator[_Opened]:
    yield from _open(browser, report)


def _chart_keys(opened: _Opened) -> list[str]:
    ids = opened.page.eval_on_selector_all("figure.chart", "els => els.map(e => e.id)")
    return [str(found).removeprefix("chart-") for found in ids]


def test_every_chart_draws_data_with_titled_axes_offline(
    page: _Opened, report: Path, shipped: _Shipped
) -> None:
    data = _results(report)
    expected = {f.key for f in figures(data) if not isinstance(f, Absent)}

    keys = _chart_keys(page)

    assert page.requests == [(report / "report.html").as_uri()]
    assert page.problems == []
    assert expected >= shipped.always_drawn
    assert set(keys) == expected, keys
    for key in keys:
        figure = page.page.locator(f"#chart-{key}")
        figure.scroll_into_view_if_needed()
        drawn = figure.locator("g.series")
        box = drawn.bounding_box()
        assert box is not None, key
        assert box["width"] > 100, (key, box)
        assert box["height"] > 0, (key, box)
        paths = drawn.locator("path").evaluate_all("ps => ps.map(p => p.getAttribute('d'))")
        assert any(len(re.findall(r"[\d.]+,[\d.]+", str(d))) >= 1 for d in paths), (key, paths)
        titles = figure.locator("text.axis-title").all_text_contents()
        assert len(titles) == 2, (key, titles)
        assert all(UNIT.search(t) for t in titles), (key, titles)
        assert len(figure.locator("g.axis.x text:not(.axis-title)").all()) >= 3, key
        assert len(figure.locator("g.axis.y text:not(.axis-title)").all()) >= 2, key
        assert figure.locator(".legend li").count() >= 1, key
        if key != "distribution":
            band = figure.locator("g.band")
            assert band.count() == 1, key
            assert band.locator("text").text_content() == shipped.fault, key


def test_hover_shows_each_series_value_at_the_pointer(
    page: _Opened, report: Path, shipped: _Shipped
) -> None:
    timeline = _results(report)["timeline"]
    key, name, column = shipped.hover
    figure = page.page.locator(f"#chart-{key}")
    plot = figure.locator("rect.plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None
    x_range = json.loads(figure.locator("script.chart-data").text_content() or "{}")["x1"]
    second = 3  # inside the fault

    page.page.mouse.move(box["x"] + box["width"] * (second + 0.5) / x_range, box["y"] + 20)

    tip = figure.locator(".tip")
    assert tip.is_visible()
    lines = tip.inner_text().splitlines()
    assert lines[0] == f"t = {second} s"
    value = next(row[column] for row in timeline if row["t"] == second)
    shown = next(line for line in lines if line.startswith(f"{name}: "))
    assert float(shown.split()[-2]) == pytest.approx(value, rel=0.01), lines
    assert figure.locator("line.crosshair").evaluate("l => l.style.visibility") == "visible"
    page.page.mouse.move(box["x"] - 30, box["y"] - 30)
    assert not tip.is_visible()
    assert page.problems == []


def test_charts_draw_with_scripts_off(browser: Browser, report: Path) -> None:
    for opened in _open(browser, report, scripts=False):
        figure = opened.page.locator("#chart-latency")
        box = figure.locator("g.series").bounding_box()
        assert box is not None
        assert box["height"] > 0
        assert figure.locator("g.series path title").first.text_content() == "p50 (ms)"
        assert opened.requests == [(report / "report.html").as_uri()]
