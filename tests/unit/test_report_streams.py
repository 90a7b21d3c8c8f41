"""report.html of runs that streamed their answers, from constructed results.json data: time to
first token and inter-token latency per second with their budgets, tokens per second received
and generated, an LLM endpoint's sequences and KV cache, the stream figures of each phase and
second; and runs without streams left exactly as they were."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from harness.report import render_html
from harness.report.charts import LEFT, PLOT_W
from harness.report.figures import Absent, figures
from tests.unit.test_report_html import _budget, _chart_data, _figure, _run, _series_named

SECONDS = 30
FAULT_START, FAULT_END = 10.004, 20.01
OLD_KEYS = ["latency", "rate", "responses", "concurrency", "dependencies", "distribution", "lag"]


def _stream_row(t: int) -> dict[str, Any]:
    """A second of chat streams: the first token waits in a queue while the fault lasts, the
    tokens keep their pace."""
    slow = FAULT_START <= t < FAULT_END
    return {
        "ttft_p50_ms": 400.0 if slow else 20.5,
        "ttft_p99_ms": 900.0 + t if slow else 30.25,
        "itl_p99_ms": 26.0 + (t % 3),
        "tokens": 3200,
        "good": 150 if slow else 200,
    }


def _phase_stream(ttft_p99: float, goodput: float, cut: int) -> dict[str, Any]:
    return {
        "streams": 200, "complete": 200 - cut, "cut": cut, "tokens": 3200, "good": 190,
        "malformed_events": 0, "ttft_ms": {"p50": 20.0, "p90": 25.0, "p99": ttft_p99},
        "itl_ms": {"p50": 25.0, "p90": 26.0, "p99": 28.5},
        "tpot_ms": {"p50": 25.0, "p90": 25.1, "p99": 25.2},
        "tokens_per_s": 3200.0, "goodput": goodput,
    }  # fmt: skip


def _streamed(*, llm: bool = True, seconds: int = SECONDS) -> dict[str, Any]:
    """A run of chat streams (30 s unless said) with a fault from 10 to 20 s, against the
    reference endpoint's LLM mode (``llm``) or an endpoint that exposes no LLM gauges."""
    data = _run(seconds)
    data["faults"][0].update(
        planned_start_s=10.0,
        planned_end_s=20.0,
        actual_start_s=FAULT_START,
        actual_end_s=FAULT_END,
    )
    for row in data["timeline"]:
        row.update(_stream_row(row["t"]))
    phases = data["phases"]
    phases["overall"]["stream"] = _phase_stream(901.0, 0.95, 0) | {
        "tokens_generated": 96000.0,
        "token_amplification": 1.0,
        "duplicated_tokens": 0.0,
    }
    phases["baseline"]["stream"] = _phase_stream(30.25, 1.0, 0)
    phases["during:slow"]["stream"] = _phase_stream(919.0, 0.75, 3)
    phases["recovery"]["stream"] = _phase_stream(30.25, 1.0, 0)
    data["budgets"] += [
        _budget("ttft_p99_ms < 500", "during:slow", 919.0, False),
        _budget("ttft_p99_ms < 100", "baseline", 30.25, True),
        _budget("itl_p99_ms < 50", "during:slow", 28.5, True),
        _budget("tpot_p99_ms < 40", "overall", 25.2, True),
        _budget("goodput > 0.8", "during:slow", 0.75, False),
    ]
    data["series"]["endpoint"]["generated_tokens"] = [[t, 3100 + t] for t in range(seconds)]
    if llm:
        data["series"]["llm"] = {
            "running_sequences": [[t, 4 if t >= 10 else 2] for t in range(seconds)],
            "waiting_sequences": [[t, 7 if 10 <= t < 20 else 0] for t in range(seconds)],
            "kv_cache_used_tokens": [[t, 148 if t >= 10 else 74] for t in range(seconds)],
        }
    return data


@pytest.fixture(scope="module")
def streamed() -> tuple[dict[str, Any], str]:
    data = _streamed()
    return data, render_html(data)


def _x(t: float) -> float:
    return LEFT + t / SECONDS * PLOT_W


def _keys(data: dict[str, Any]) -> list[str]:
    return [figure.key for figure in figures(data)]


def test_a_streamed_run_adds_its_charts_beside_the_ones_they_explain(
    streamed: tuple[dict[str, Any], str],
) -> None:
    data, document = streamed

    assert _keys(data) == [
        "latency", "ttft", "itl", "tokens", "rate", "responses", "concurrency", "sequences",
        "kv_cache", "dependencies", "distribution", "lag",
    ]  # fmt: skip
    assert not any(isinstance(figure, Absent) for figure in figures(data))
    titles = {
        "ttft": "time to first token (ms)",
        "itl": "inter-token latency (ms)",
        "tokens": "tokens per second (tokens/s)",
        "sequences": "sequences (count)",
        "kv_cache": "KV cache used (tokens)",
    }
    for key, y_title in titles.items():
        figure = _figure(document, key)
        assert f">{y_title}</text>" in figure, key
        assert ">seconds from the start (s)</text>" in figure, key
        assert re.findall(r'<path class="line" d="M[\d.]+,[\d.]+', figure), key
        band = re.search(r'<g class="band"><title>([^<]+)</title><rect x="([\d.]+)"', figure)
        assert band, key
        assert float(band.group(2)) == pytest.approx(_x(FAULT_START), abs=0.1), key
        assert '<ul class="legend"><li>' in figure, key


def test_ttft_and_itl_per_second_with_their_budgets_over_their_phases(
    streamed: tuple[dict[str, Any], str],
) -> None:
    data, document = streamed
    ttft, itl = _chart_data(document, "ttft"), _chart_data(document, "itl")
    ttft_figure, itl_figure = _figure(document, "ttft"), _figure(document, "itl")

    assert [s["n"] for s in ttft["series"]] == ["TTFT p50", "TTFT p99"]
    assert _series_named(ttft, "TTFT p99")["y"] == [r["ttft_p99_ms"] for r in data["timeline"]]
    assert ttft["x"][:2] == [0.5, 1.5]
    assert [s["n"] for s in itl["series"]] == ["ITL p99"]
    assert _series_named(itl, "ITL p99")["y"] == [r["itl_p99_ms"] for r in data["timeline"]]
    rule = re.search(
        r"<title>ttft p99 &lt; 500 ms \(during:slow\)</title><line ([^>]+)>", ttft_figure
    )
    assert rule
    attributes = dict(re.findall(r'(\w+)="([^"]+)"', rule.group(1)))
    assert float(attributes["x1"]) == pytest.approx(_x(FAULT_START), abs=0.1)
    assert float(attributes["x2"]) == pytest.approx(_x(FAULT_END), abs=0.1)
    assert "<title>ttft p99 &lt; 100 ms (baseline)</title><line" in ttft_figure
    assert "<title>itl p99 &lt; 50 ms (during:slow)</title><line" in itl_figure
    # Each chart draws its own metric's budgets, and no other's.
    for figure in (ttft_figure, itl_figure):
        assert "tpot" not in figure
        assert "goodput" not in figure
        assert "p99 &lt; 400 ms" not in figure
    assert "itl p99" not in ttft_figure
    assert "ttft p99" not in itl_figure
    assert "ttft" not in _figure(document, "latency")


def test_tokens_received_per_second_beside_those_the_endpoint_generated(
    streamed: tuple[dict[str, Any], str],
) -> None:
    data, document = streamed
    chart = _chart_data(document, "tokens")

    assert [s["n"] for s in chart["series"]] == ["received", "generated by the endpoint"]
    assert _series_named(chart, "received")["y"] == [r["tokens"] for r in data["timeline"]]
    generated = _series_named(chart, "generated by the endpoint")
    assert generated["y"][:2] == [3100, 3101]
    assert chart["x"][:2] == [0.5, 1.5]
    assert 'stroke-dasharray="6 4"><title>generated by the endpoint' in _figure(document, "tokens")


def test_llm_sequences_and_kv_cache_as_steps_on_charts_of_their_own(
    streamed: tuple[dict[str, Any], str],
) -> None:
    _, document = streamed
    sequences, kv = _chart_data(document, "sequences"), _chart_data(document, "kv_cache")

    assert [s["n"] for s in sequences["series"]] == ["running", "waiting"]
    waiting = _series_named(sequences, "waiting")
    assert waiting["s"] == 1
    assert waiting["y"][9:11] == [0, 7]
    assert sequences["x"][:2] == [0, 1]
    assert [s["n"] for s in kv["series"]] == ["KV cache used"]
    assert _series_named(kv, "KV cache used")["y"][9:11] == [74, 148]
    path = re.findall(r'<path class="line" d="([^"]+)"', _figure(document, "kv_cache"))[0]
    assert "H" in path
    assert "V" in path


def test_phases_and_timeline_carry_the_stream_figures(
    streamed: tuple[dict[str, Any], str],
) -> None:
    _, document = streamed
    phases = document.split("<h2>Phases</h2>", 1)[1].split("</table>", 1)[0]
    timeline = document.split("<h2>Timeline</h2>", 1)[1].split("</table>", 1)[0]

    assert "<th>TTFT p99 ms</th><th>ITL p99 ms</th><th>goodput</th><th>cut streams</th>" in phases
    slow = re.search(r"<tr><td>during:slow</td>.*?</tr>", phases)
    assert slow
    assert slow.group(0).endswith("<td>919</td><td>28.5</td><td>0.75</td><td>3</td></tr>")
    headers = "<th>TTFT p50 ms</th><th>TTFT p99 ms</th><th>ITL p99 ms</th><th>tokens</th>"
    assert headers + "<th>good streams</th>" in timeline
    assert "<td>20.5</td><td>30.25</td><td>26</td><td>3,200</td><td>200</td></tr>" in timeline


def test_a_ttft_budget_card_names_the_first_second_over(
    streamed: tuple[dict[str, Any], str],
) -> None:
    _, document = streamed
    cards = re.findall(r'<div class="card[^"]*">(.*?)</div>', document)

    ttft = next(card for card in cards if "ttft_p99_ms &lt; 500" in card)
    assert "<dt>first second over</dt><dd>t=11 s</dd>" in ttft  # the first whole second
    held = next(card for card in cards if "itl_p99_ms &lt; 50" in card)
    assert "<dt>first second over</dt><dd>-</dd>" in held


def test_a_streamed_run_without_llm_gauges_says_so_once() -> None:
    data = _streamed(llm=False)
    del data["series"]["endpoint"]["generated_tokens"]

    document = render_html(data)

    assert "sequences" in _keys(data)
    assert "kv_cache" not in _keys(data)
    assert '<section class="absent" id="chart-sequences">' in document
    assert "Not drawn: the endpoint exposed no running or waiting sequences" in document
    chart = _chart_data(document, "tokens")
    assert [s["n"] for s in chart["series"]] == ["received"]


def test_streams_cut_before_any_token_say_why_their_charts_are_missing() -> None:
    data = _streamed(llm=False)
    del data["series"]["endpoint"]["generated_tokens"]
    for row in data["timeline"]:
        row.update(ttft_p50_ms=None, ttft_p99_ms=None, itl_p99_ms=None, tokens=0, good=0)

    document = render_html(data)

    assert "Not drawn: no stream got its first token." in document
    assert "Not drawn: no stream got two tokens." in document
    assert "Not drawn: no stream received a token." in document


def test_whole_answers_from_an_llm_endpoint_still_show_its_sequences() -> None:
    data = _streamed()
    for row in data["timeline"]:
        for key in ("ttft_p50_ms", "ttft_p99_ms", "itl_p99_ms", "tokens", "good"):
            del row[key]
    for phase in data["phases"].values():
        phase["stream"] = None

    document = render_html(data)

    assert _keys(data) == [*OLD_KEYS[:4], "sequences", "kv_cache", *OLD_KEYS[4:]]
    assert "TTFT" not in document


def test_runs_without_streams_have_none_of_it() -> None:
    data = _run(SECONDS)

    document = render_html(data)

    assert _keys(data) == OLD_KEYS
    for word in ("TTFT", "ITL", "tokens", "sequences", "KV cache", "goodput"):
        assert word not in document, word


def test_a_ten_minute_streamed_report_stays_one_small_file() -> None:
    document = render_html(_streamed(seconds=600))

    size = len(document.encode())
    assert size < 1.5 * 1024 * 1024, f"{size / 1024:.0f} KB"
    assert "https://" not in document
    assert not re.search(r"\b(src|href)\s*=", document, re.IGNORECASE)


def test_damaged_stream_data_still_renders() -> None:
    base = _streamed()
    damaged: list[dict[str, Any]] = []
    for broken in (None, "damaged", [None], {"x": None}):
        data = copy.deepcopy(base)
        data["phases"]["during:slow"]["stream"] = broken
        data["phases"]["overall"]["stream"] = {"ttft_ms": broken, "itl_ms": broken}
        data["timeline"][3].update(ttft_p99_ms=broken, tokens=broken, good=broken)
        data["series"]["llm"] = {"running_sequences": broken, "waiting_sequences": [broken]}
        data["series"]["endpoint"]["generated_tokens"] = broken
        damaged.append(data)
    llm_missing = copy.deepcopy(base)
    llm_missing["series"]["llm"] = "damaged"
    damaged.append(llm_missing)

    for data in damaged:
        document = render_html(data)
        assert document.rstrip().endswith("</html>")
        assert '<figure class="chart" id="chart-ttft">' in document
