"""Per-second series for the report's charts: gauges downsampled to each second's highest
reading, counters to each second's increase (restarts and missed scrapes included), the
endpoint's names read from its real exposition, and the series in results.json."""

from __future__ import annotations

import json
from dataclasses import replace

from harness.loadgen.recorder import Recorder
from harness.run.phases import PhaseClock
from harness.run.sampler import ENDPOINT_COUNTERS, PROVISIONED, PROVISIONED_TARGET, read_endpoint
from harness.run.series import CounterSeries, GaugeSeries, RunSeries, StatusSeries, increase
from harness.servers.endpoint import EndpointConfig
from harness.servers.endpoint.admission import Admission
from harness.servers.endpoint.autoscaler import Autoscaler
from harness.servers.endpoint.metrics import EndpointMetrics
from harness.verdict.phases import phase_stats
from harness.verdict.results import RunResult, empty_series


def test_increase_is_the_difference_or_all_of_a_restarted_counter() -> None:
    assert increase(10.0, 17.0) == 7.0
    assert increase(10.0, 10.0) == 0.0
    assert increase(10.0, 3.0) == 3.0


def test_gauge_scrapes_every_quarter_second_become_each_seconds_highest() -> None:
    series = GaugeSeries()
    readings = [2, 2, 5, 3, 3, 3, 4, 1, 6, 6, 6, 6]
    for index, value in enumerate(readings):
        series.observe(index * 0.25, value)

    assert series.to_json() == [[0, 5], [1, 4], [2, 6]]


def test_gauge_reading_before_the_start_is_second_zero_and_missed_seconds_have_no_point() -> None:
    series = GaugeSeries()
    for t, value in [(-0.05, 7.0), (0.2, 2.0), (1.1, 2.5), (4.0, 1.0)]:
        series.observe(t, value)

    assert series.to_json() == [[0, 7], [1, 2.5], [4, 1]]


def test_counter_readings_become_per_second_increases_after_the_baseline() -> None:
    series = CounterSeries()
    # 0.25 s apart: baseline 100, then +1 per reading, with +4 in the middle of second 1.
    values = [100, 101, 102, 103, 104, 109, 110, 111, 112]
    for index, value in enumerate(values):
        series.observe(index * 0.25, value)

    assert series.to_json() == [[0, 3], [1, 8], [2, 1]]
    assert series.total() == 12


def test_a_counter_reset_counts_what_the_restarted_process_counted() -> None:
    series = CounterSeries(baseline=50.0)
    for t, value in [(0.5, 60.0), (1.5, 70.0), (2.5, 4.0), (3.5, 9.0)]:
        series.observe(t, value)

    # 50 -> 60 -> 70, restart, 4 -> 9: 10 + 10 + 4 + 5 calls in all.
    assert series.to_json() == [[0, 10], [1, 10], [2, 4], [3, 5]]
    assert series.total() == 29


def test_missed_seconds_have_no_point_and_the_next_carries_what_they_counted() -> None:
    series = CounterSeries(baseline=0.0)
    for t, value in [(0.5, 5.0), (1.5, 10.0), (4.5, 40.0), (5.5, 41.0)]:
        series.observe(t, value)

    assert series.to_json() == [[0, 5], [1, 5], [4, 30], [5, 1]]
    assert series.total() == 41


def test_counter_without_baseline_starts_at_its_first_reading() -> None:
    series = CounterSeries()
    series.observe(0.5, 1000.0)

    assert series.to_json() == []
    series.observe(1.5, 1003.5)
    assert series.to_json() == [[1, 3.5]]


def test_statuses_per_second_from_a_baseline_new_statuses_and_quiet_seconds() -> None:
    series = StatusSeries({"200": 10.0})
    series.observe(0.5, {"200": 30.0})
    series.observe(1.5, {"200": 45.0, "503": 3.0})
    series.observe(2.5, {"200": 45.0, "503": 3.0})
    series.observe(3.5, {"200": 46.0, "503": 7.0})

    assert series.to_json() == [
        {"t": 0, "statuses": {"200": 20}},
        {"t": 1, "statuses": {"200": 15, "503": 3}},
        {"t": 2, "statuses": {}},
        {"t": 3, "statuses": {"200": 1, "503": 4}},
    ]
    assert series.totals() == {"200": 36.0, "503": 7.0}


def test_a_restarted_stub_counts_from_zero_and_a_missed_second_has_no_entry() -> None:
    series = StatusSeries({"200": 0.0})
    series.observe(0.5, {"200": 20.0, "429": 2.0})
    # Crashed after second 0, nothing read in seconds 1 and 2, back with fresh counters.
    series.observe(3.5, {"200": 6.0})

    assert series.to_json() == [
        {"t": 0, "statuses": {"200": 20, "429": 2}},
        {"t": 3, "statuses": {"200": 6}},
    ]


def test_a_ten_minute_run_keeps_one_point_per_second() -> None:
    series = RunSeries({"feature-store": {"200": 0.0}})
    for tick in range(600 * 4):
        t = tick * 0.25
        series.provisioned.observe(t, 4.0)
        series.provisioned_target.observe(t, 4.0)
        for key in ENDPOINT_COUNTERS:
            series.counter(key, t, float(tick))
    for second in range(1, 601):
        series.calls("feature-store", second - 0.5, {"200": 40.0 * second, "503": 1.0 * second})

    data = series.to_json()

    assert len(data["provisioned"]) == len(data["provisioned_target"]) == 600
    assert {len(points) for points in data["endpoint"].values()} == {600}
    assert len(data["dependencies"]["feature-store"]) == 600
    # Per second: 2 gauges and each counter as [t, value], the dependency's t and 2 statuses.
    assert _numbers(data) == 600 * (2 * 2 + len(ENDPOINT_COUNTERS) * 2 + 3)
    assert len(json.dumps(data)) < 200_000
    assert sum(gained for _, gained in data["endpoint"]["cache_hits"]) == 600 * 4 - 1


def _numbers(value: object) -> int:
    if isinstance(value, dict):
        return sum(_numbers(item) for item in value.values())
    if isinstance(value, list):
        return sum(_numbers(item) for item in value)
    return 1 if isinstance(value, int | float) else 0


def _reference_exposition(concurrency: int) -> str:
    config = EndpointConfig(concurrency=concurrency)
    metrics = EndpointMetrics(Admission(concurrency, 10 * concurrency))
    metrics.watch(Autoscaler(config, now=0.0, load=lambda: 0, resize=lambda units: None))
    metrics.cache_event("feature-store", "hit")
    metrics.cache_event("feature-store", "hit")
    metrics.cache_event("enrichment", "hit")
    metrics.cache_event("feature-store", "miss")
    metrics.reject("queue_full")
    metrics.reject("rate_limited")
    metrics.reject("queue_full")
    return metrics.render().decode()


def test_the_reference_endpoints_exposition_gives_every_charted_name_summed_over_labels() -> None:
    reading = read_endpoint(_reference_exposition(3))

    assert reading.gauges[PROVISIONED] == 3
    assert reading.gauges[PROVISIONED_TARGET] == 3
    # Declared counters with no label set used yet read 0: the endpoint exposes them.
    assert reading.counters == {
        "upstream_retries": 0,
        "cache_hits": 3,
        "cache_misses": 1,
        "rejected": 3,
    }


def test_a_server_with_none_of_the_names_gives_nothing_to_chart() -> None:
    text = (
        "# TYPE http_requests_total counter\n"
        'http_requests_total{code="200"} 12.0\n'
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 1.0e7\n"
    )

    reading = read_endpoint(text)

    assert reading.gauges == {}
    assert reading.counters == {}


def test_an_untyped_total_counts_like_a_counter() -> None:
    reading = read_endpoint("serving_upstream_retries_total 4\nserving_cache_hits_total 2\n")

    assert reading.counters == {"upstream_retries": 4, "cache_hits": 2}


def test_series_shape_matches_the_empty_one_results_default_to() -> None:
    empty = RunSeries().to_json()

    assert empty == empty_series()
    assert set(RunSeries({"a": None}).to_json()) == set(empty_series())


def test_series_and_environment_are_in_results_json_and_survive_a_round_trip() -> None:
    series = RunSeries({"feature-store": {"200": 0.0}})
    series.provisioned.observe(0.1, 2.0)
    series.counter("rejected", 0.1, 0.0)
    series.counter("rejected", 0.6, 5.0)
    series.calls("feature-store", 0.5, {"200": 12.0})
    series.failed("feature-store")
    recorder = Recorder(PhaseClock([]))
    recorder.offered(0.5)
    recorder.completed(0.5, 0.5, 0.51, status=200, failure=None)
    phases = phase_stats(recorder, 1.0)
    result = RunResult("s", "process", [], phases, recorder.seconds(), [], {}, "", 1.0)

    data = json.loads(json.dumps(replace(result, series=series.to_json()).to_json()))
    default = json.loads(json.dumps(result.to_json()))

    assert data["series"] == {
        "provisioned": [[0, 2]],
        "provisioned_target": [],
        "endpoint": {"rejected": [[0, 5]]},
        "dependencies": {"feature-store": [{"t": 0, "statuses": {"200": 12}}]},
        "scrape_failures": {"feature-store": 1},
    }
    assert data["environment"]["python"].count(".") == 2
    assert set(data["environment"]) == {"harness", "python", "platform", "toxiproxy"}
    assert data["environment"]["toxiproxy"] is None
    assert default["series"] == empty_series()
    assert data["timeline"] == default["timeline"]
