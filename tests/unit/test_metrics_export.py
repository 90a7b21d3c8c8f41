"""A run's figures as Prometheus metrics, built from a results.json dict made in the test: the
textfile as prometheus_client's own parser reads it, the values in base units, and the export
flags refused before a run starts. Pushes to a Pushgateway stand-in are in the integration
tier's test_pushgateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import UsageError
from harness.report.metrics_export import (
    CERTIFY_METRICS,
    PREFIX,
    RUN_METRICS,
    certificate_registry,
    check_pushgateway_url,
    check_textfile,
    run_registry,
    write_textfile,
)
from tests.cli import Cli

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _phase(requests: int, errors: int, p99: float | None) -> dict[str, Any]:
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "p50_ms": None if p99 is None else 12.5,
        "p90_ms": None if p99 is None else 40.0,
        "p99_ms": p99,
        "max_ms": None if p99 is None else 250.0,
        "throughput_rps": 39.5 if requests else None,
        "max_queue_depth": 3.0,
        "seconds": 4.0,
        "errors_by_class": {"status_503": errors} if errors else {},
    }


RESULTS: dict[str, Any] = {
    "scenario": "feature-store-latency",
    "backend": "process",
    "load_shape": "open-loop constant 40/s",
    "started_at": "2026-01-02T03:04:05+00:00",
    "duration_s": 12.0,
    "passed": False,
    "valid": True,
    "budgets": [
        {"name": "p99_ms < 100", "phase": "during:slow", "expression": "p99_ms < 100",
         "metric": "p99_ms", "op": "<", "limit": 100, "observed": 180.5, "passed": False,
         "note": ""},
        {"name": "error_rate < 0.01", "phase": "overall", "expression": "error_rate < 0.01",
         "metric": "error_rate", "op": "<", "limit": 0.01, "observed": 0.005, "passed": True,
         "note": ""},
        {"name": "cpu_pct < 80", "phase": "overall", "expression": "cpu_pct < 80",
         "metric": "cpu_pct", "op": "<", "limit": 80, "observed": None, "passed": False,
         "note": "cpu_pct was not measured"},
    ],
    "phases": {
        "overall": _phase(480, 2, 180.5),
        "during:slow": _phase(160, 2, 180.5),
        "empty": _phase(0, 0, None),
    },
    "timeline": [],
    "faults": [],
}  # fmt: skip


def _samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _labels(phase: str | None = None, **more: str) -> tuple[tuple[str, str], ...]:
    labels = {"scenario": "feature-store-latency", **more}
    if phase is not None:
        labels["phase"] = phase
    return tuple(sorted(labels.items()))


def test_run_metrics_in_base_units(tmp_path: Path) -> None:
    path = write_textfile(run_registry(RESULTS), tmp_path / "chaos.prom")

    samples = _samples(path.read_text())

    assert samples[("serving_chaos_run_passed", _labels())] == 0
    assert samples[("serving_chaos_run_valid", _labels())] == 1
    assert samples[("serving_chaos_run_duration_seconds", _labels())] == 12.0
    assert samples[("serving_chaos_run_started_timestamp_seconds", _labels())] == 1767323045
    info = _labels(backend="process", load_shape="open-loop constant 40/s")
    assert samples[("serving_chaos_run_info", info)] == 1
    slow = _labels("during:slow", budget="p99_ms < 100")
    assert samples[("serving_chaos_budget_passed", slow)] == 0
    assert samples[("serving_chaos_budget_observed", slow)] == 180.5  # the budget's own unit
    assert samples[("serving_chaos_budget_limit", slow)] == 100
    assert samples[("serving_chaos_budget_passed", _labels("overall", budget="error_rate < 0.01"))]
    assert samples[("serving_chaos_phase_requests", _labels("overall"))] == 480
    assert samples[("serving_chaos_phase_errors", _labels("overall"))] == 2
    assert samples[("serving_chaos_phase_error_ratio", _labels("overall"))] == pytest.approx(
        2 / 480
    )
    latency = "serving_chaos_phase_latency_seconds"
    assert samples[(latency, _labels("overall", quantile="0.5"))] == 0.0125
    assert samples[(latency, _labels("overall", quantile="0.9"))] == 0.04
    assert samples[(latency, _labels("overall", quantile="0.99"))] == 0.1805
    assert samples[(latency, _labels("overall", quantile="1"))] == 0.25
    assert samples[("serving_chaos_phase_throughput_rps", _labels("overall"))] == 39.5
    assert samples[("serving_chaos_phase_max_queue_depth", _labels("overall"))] == 3
    assert samples[("serving_chaos_phase_duration_seconds", _labels("overall"))] == 4
    by_class = _labels("during:slow", **{"class": "status_503"})
    assert samples[("serving_chaos_phase_errors_by_class", by_class)] == 2
    # Written whole: no temporary file is left next to it.
    assert [p.name for p in tmp_path.iterdir()] == ["chaos.prom"]


def test_what_was_not_measured_has_no_sample() -> None:
    samples = _samples(generate_latest(run_registry(RESULTS)).decode())

    cpu = _labels("overall", budget="cpu_pct < 80")
    assert samples[("serving_chaos_budget_passed", cpu)] == 0
    assert ("serving_chaos_budget_observed", cpu) not in samples
    assert samples[("serving_chaos_phase_requests", _labels("empty"))] == 0
    empty = [key for key in samples if key[0].startswith("serving_chaos_phase_latency")]
    assert not [key for key in empty if ("phase", "empty") in key[1]]
    assert ("serving_chaos_phase_throughput_rps", _labels("empty")) not in samples


def test_every_documented_metric_is_exported_and_named_with_the_prefix() -> None:
    text = generate_latest(run_registry(RESULTS)).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    documented = {PREFIX + doc.name for doc in RUN_METRICS}

    assert names == documented
    assert all(name.startswith("serving_chaos_") for name in names)
    # Every sample carries the scenario.
    samples = _samples(text)
    assert all(("scenario", "feature-store-latency") in labels for _, labels in samples)


def test_certificate_metrics() -> None:
    certificate = {
        "name": "reference-endpoint",
        "ready": False,
        "duration_s": 95.5,
        "checks": [
            {"name": "baseline", "verdict": "pass"},
            {"name": "surge", "verdict": "fail"},
            {"name": "cold_start", "verdict": "n/a"},
        ],
        "recommendation": {
            "min_provisioned_concurrency": 4,
            "max_provisioned_concurrency": None,
            "capacity_rps": 420.0,
        },
    }
    text = generate_latest(certificate_registry(certificate)).decode()
    samples = _samples(text)
    spec = (("spec", "reference-endpoint"),)

    assert samples[("serving_chaos_certify_ready", spec)] == 0
    assert samples[("serving_chaos_certify_duration_seconds", spec)] == 95.5
    assert samples[("serving_chaos_certify_check_passed", (("check", "baseline"), *spec))] == 1
    assert samples[("serving_chaos_certify_check_passed", (("check", "surge"), *spec))] == 0
    assert ("serving_chaos_certify_check_passed", (("check", "cold_start"), *spec)) not in samples
    bound = "serving_chaos_certify_recommended_concurrency"
    assert samples[(bound, (("bound", "min"), *spec))] == 4
    assert (bound, (("bound", "max"), *spec)) not in samples
    assert samples[("serving_chaos_certify_capacity_rps", spec)] == 420
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names == {PREFIX + doc.name for doc in CERTIFY_METRICS}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9091", "https://push.example:443/prefix/", "http://pushgateway"],
)
def test_pushgateway_urls_accepted(url: str) -> None:
    assert check_pushgateway_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:9091",
        "ftp://127.0.0.1:9091",
        "http://:9091",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
        "http://127.0.0.1:9091/?job=x",
        "http://user:secret@127.0.0.1:9091",
        "http://127.0.0.1:0",
    ],
)
def test_bad_pushgateway_urls_refused(url: str) -> None:
    with pytest.raises(UsageError, match=r"--pushgateway: expected http://HOST:PORT") as caught:
        check_pushgateway_url(url)
    assert repr(url) in str(caught.value)


def test_textfile_in_a_missing_folder_or_on_a_folder_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        check_textfile(tmp_path / "nowhere" / "chaos.prom")
    with pytest.raises(UsageError, match="is a folder"):
        check_textfile(tmp_path)
    assert check_textfile(tmp_path / "chaos.prom") == tmp_path / "chaos.prom"


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--pushgateway", "localhost:9091"), "--pushgateway: expected http://HOST:PORT"),
        (("--prometheus-textfile", "/nowhere/at/all/chaos.prom"), "/nowhere/at/all"),
    ],
)
def test_run_refuses_bad_export_flags_before_starting(
    cli: Cli, tmp_path: Path, flags: tuple[str, ...], says: str
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: x\nload: {rate: 5, duration_s: 3}\n")
    for command in ("run", "certify"):
        ran = cli(command, str(scenario), "--report-dir", str(tmp_path / "out"), *flags)

        assert ran.code == 2, ran.out + ran.err
        assert says in ran.err
        assert "Traceback" not in ran.err
        assert not (tmp_path / "out").exists()
