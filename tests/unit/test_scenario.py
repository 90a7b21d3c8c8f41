"""Scenario files: the shipped one parses; every malformed input names its field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from faults import Crash, HttpError, Pause, ProxyDown, ResourceLimit, ScheduledFault, Stop, Toxic
from faults.http import Abort
from harness.errors import ChaosError, ScenarioError
from harness.scenario import (
    EndpointSpec,
    ExternalTarget,
    LoadSpec,
    Scenario,
    load_scenario,
    parse_scenario,
)
from harness.scenario.budgets import Budget
from harness.system.spec import Dependency

SHIPPED = (
    Path(__file__).resolve().parents[2] / "suites" / "scenarios" / "feature_store_latency.yaml"
)

_FAULTS = """\
faults:
  - name: slow
    type: latency
    target: feature-store
    start_s: 2
    duration_s: 3
    attributes: {latency: 100}
"""


def _write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "scenario.yaml"
    file.write_text(text)
    return file


def _line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing ``needle``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    if len(lines) != 1:
        raise LookupError(f"expected {needle!r} on exactly one line but found it on {lines}")
    return lines[0]


def _load_error(tmp_path: Path, text: str) -> tuple[Path, ScenarioError]:
    file = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    return file, info.value


def _rejected(text: str, field: str, fragment: str) -> None:
    """``text`` is refused with an error naming ``field`` and saying ``fragment``."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_shipped_scenario_parses_to_expected_values() -> None:
    scenario = load_scenario(SHIPPED)

    assert scenario.name == "feature-store-latency"
    assert scenario.description.startswith("A 150 ms feature-store slowdown")
    assert scenario.source == str(SHIPPED)
    assert scenario.endpoint == EndpointSpec(concurrency=8, upstream_timeout_s=2.0)
    assert scenario.load == LoadSpec(
        rate=40.0,
        duration_s=12.0,
        records_per_request=1,
        timeout_s=5.0,
        max_connections=256,
        keyspace=1000,
    )
    assert scenario.faults == (
        ScheduledFault(
            name="feature-store-slow",
            fault=Toxic(
                type="latency",
                target="feature-store",
                attributes={"latency": 150, "jitter": 0},
                stream="downstream",
                toxicity=1.0,
            ),
            start_s=4.0,
            duration_s=4.0,
        ),
    )
    during = "during:feature-store-slow"
    assert scenario.budgets == (
        Budget("error_rate", "<", 0.01),
        Budget("p99_ms", "<", 500.0),
        Budget("p50_ms", "<", 50.0, phase="baseline"),
        Budget("error_rate", "<", 0.01, phase=during),
        Budget("p99_ms", "<", 400.0, phase=during),
        Budget("p99_ms", "<", 100.0, phase="recovery"),
    )
    assert scenario.phase_names() == ["overall", "baseline", during, "recovery"]


def test_minimal_scenario_takes_defaults_and_shorthand_budgets() -> None:
    text = """\
name: minimal
load: {rate: 5, duration_s: 2}
faults:
  - {name: gone, type: down, target: endpoint, start_s: 0.5, duration_s: 1}
budgets:
  - "p(95) < 200"
"""
    scenario = parse_scenario(text, source="inline.yaml")

    assert scenario == Scenario(
        name="minimal",
        load=LoadSpec(rate=5.0, duration_s=2.0),
        endpoint=EndpointSpec(),
        faults=(ScheduledFault("gone", ProxyDown("endpoint"), 0.5, 1.0),),
        budgets=(Budget("p95_ms", "<", 200.0),),
        source="inline.yaml",
    )
    assert isinstance(scenario.load.rate, float)


_LOAD = "load:\n  rate: 10\n  duration_s: 10\n"

# (id, file text, field path, a text unique to the line the error must point at, message fragment)
MALFORMED = [
    ("missing-load", "name: x\nfaults: []\n", "load", "name: x", "required field is missing"),
    (
        "negative-rate",
        "name: x\nload:\n  duration_s: 10\n  rate: -5\n",
        "load.rate",
        "rate: -5",
        "expected rate > 0 but got rate=-5",
    ),
    (
        "zero-rate",
        "name: x\nload:\n  duration_s: 10\n  rate: 0\n",
        "load.rate",
        "rate: 0",
        "expected rate > 0 but got rate=0",
    ),
    (
        "string-rate",
        "name: x\nload:\n  duration_s: 10\n  rate: fast\n",
        "load.rate",
        "rate: fast",
        "expected a number but got rate='fast'",
    ),
    (
        "unknown-top-level-key",
        f"name: x\n{_LOAD}colour: blue\n",
        "colour",
        "colour: blue",
        "unknown field",
    ),
    (
        "unknown-toxic-type",
        f"name: x\n{_LOAD}{_FAULTS.replace('type: latency', 'type: jitterbug')}",
        "faults[0].type",
        "type: jitterbug",
        "type='jitterbug'",
    ),
    (
        "unknown-toxic-attribute",
        f"name: x\n{_LOAD}{_FAULTS.replace('{latency: 100}', '{lag: 100}')}",
        "faults[0].attributes",
        "{lag: 100}",
        "but got ['lag']",
    ),
    (
        "non-integer-attribute",
        f"name: x\n{_LOAD}{_FAULTS.replace('{latency: 100}', '{latency: 1.5}')}",
        "faults[0].attributes",
        "{latency: 1.5}",
        "expected a non-negative integer but got latency=1.5",
    ),
    (
        "unknown-fault-target",
        f"name: x\n{_LOAD}{_FAULTS.replace('target: feature-store', 'target: database')}",
        "faults[0].target",
        "target: database",
        "but got target='database'",
    ),
    (
        "duplicate-fault-names",
        f"name: x\n{_LOAD}{_FAULTS}"
        "  - type: latency\n"
        "    name: slow\n"
        "    target: endpoint\n"
        "    start_s: 6\n"
        "    duration_s: 1\n",
        "faults[1].name",
        "    name: slow",
        "'slow' appears twice",
    ),
    (
        "fault-ends-after-load",
        f"name: x\n{_LOAD}{_FAULTS.replace('duration_s: 3', 'duration_s: 9')}",
        "faults[0].duration_s",
        "duration_s: 9",
        "fault ends at 11s, after load ends at 10s",
    ),
    (
        "budget-bad-expression",
        f"name: x\n{_LOAD}budgets:\n  - expect: p99_ms < 500\n  - expect: p99 is low\n",
        "budgets[1].expect",
        "p99 is low",
        "but got 'p99 is low'",
    ),
    (
        "budget-phase-during-unknown",
        f"name: x\n{_LOAD}{_FAULTS}budgets:\n"
        "  - expect: p99_ms < 500\n"
        "  - expect: p99_ms < 400\n"
        "    phase: during:unknown\n",
        "budgets[1].phase",
        "phase: during:unknown",
        "expected during:<one of ['slow']> but got phase='during:unknown'",
    ),
    (
        "baseline-without-faults",
        f"name: x\n{_LOAD}budgets:\n  - expect: p50_ms < 50\n    phase: baseline\n",
        "budgets[0].phase",
        "phase: baseline",
        "phase baseline needs at least one fault",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_scenario_names_field_and_line(
    tmp_path: Path, text: str, field: str, needle: str, fragment: str
) -> None:
    file, error = _load_error(tmp_path, text)

    line = _line_of(text, needle)
    assert error.field == field
    assert error.source == f"{file}:{line}"
    assert str(error).startswith(f"{file}:{line}: {field}: ")
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        pytest.param(
            f"name: x\n{_LOAD}{_FAULTS.replace('type: latency', 'type: jitterbug')}",
            "faults[0].type",
            "type: jitterbug",
            id="toxic-type",
        ),
        pytest.param(
            f"name: x\n{_LOAD}{_FAULTS.replace('{latency: 100}', '{lag: 100}')}",
            "faults[0].attributes",
            "{lag: 100}",
            id="toxic-attribute",
        ),
        pytest.param(
            f"name: x\n{_LOAD}{_FAULTS.replace('{latency: 100}', '{latency: 1.5}')}",
            "faults[0].attributes",
            "{latency: 1.5}",
            id="non-integer-attribute",
        ),
        pytest.param(
            f"name: x\n{_LOAD}budgets:\n  - expect: p99_ms < 500\n    phase: sometime\n",
            "budgets[0].phase",
            "phase: sometime",
            id="budget-phase-word",
        ),
    ],
)
def test_invalid_fault_or_budget_value_names_its_own_field(
    tmp_path: Path, text: str, field: str, needle: str
) -> None:
    file, error = _load_error(tmp_path, text)

    assert error.field == field
    assert error.source == f"{file}:{_line_of(text, needle)}"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    text = "name: x\nload:\n  rate: [10\n  duration_s: 10\n"
    file, error = _load_error(tmp_path, text)

    assert error.source == str(file)
    assert str(error).startswith(f"{file}: not valid YAML")
    assert "line 4" in str(error)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("- name: x\n- load: 1\n", "list", id="list"),
        pytest.param("just a string\n", "str", id="scalar"),
        pytest.param("", "NoneType", id="empty"),
    ],
)
def test_non_mapping_document_is_rejected(tmp_path: Path, text: str, found: str) -> None:
    _, error = _load_error(tmp_path, text)

    assert str(error).endswith(f"expected a mapping but got {found}")


def test_unreadable_path_is_a_scenario_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ScenarioError, match="cannot read scenario file") as info:
        load_scenario(missing)

    assert info.value.source == str(missing)
    assert isinstance(info.value, ChaosError)
    assert isinstance(info.value.__cause__, OSError)


def test_directory_is_an_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path)


def test_endpoint_section_takes_every_endpoint_setting_by_its_own_name() -> None:
    scenario = parse_scenario(
        "name: x\n"
        "endpoint: {concurrency: 2, max_queue: null, cache_ttl_s: 5, single_flight: false,\n"
        "           max_qps: 100, overflow_status: 503, min_concurrency: 1}\n"
        "load: {rate: 1, duration_s: 1}\n"
    )
    endpoint = scenario.endpoint
    assert (endpoint.concurrency, endpoint.max_queue, endpoint.cache_ttl_s) == (2, None, 5.0)
    assert (endpoint.single_flight, endpoint.max_qps, endpoint.overflow_status) == (
        False,
        100.0,
        503,
    )
    assert endpoint.min_concurrency == 1


@pytest.mark.parametrize(
    ("setting", "field", "fragment"),
    [
        ("concurrency: 0", "endpoint.concurrency", "expected concurrency >= 1"),
        ("overflow_status: 500", "endpoint.overflow_status", "expected 429 or 503"),
        ("cache_ttl_s: soon", "endpoint.cache_ttl_s", "expected a number"),
        ("single_flight: 1", "endpoint.single_flight", "expected true or false"),
        ("concurrency: 1.5", "endpoint.concurrency", "expected an integer"),
        ("port: 8080", "endpoint.port", "unknown field"),
    ],
)
def test_bad_endpoint_setting_names_its_field(setting: str, field: str, fragment: str) -> None:
    _rejected(
        f"name: x\nendpoint: {{{setting}}}\nload: {{rate: 1, duration_s: 1}}\n", field, fragment
    )


def test_http_and_service_faults_parse_to_their_value_objects() -> None:
    scenario = parse_scenario(
        "name: x\nload: {rate: 1, duration_s: 10}\nfaults:\n"
        "  - {name: limited, type: http_error, target: feature-store, start_s: 0, duration_s: 1,\n"
        "     attributes: {status: 429, rate: 0.5, retry_after_s: 1}}\n"
        "  - {name: frozen, type: pause, target: endpoint, start_s: 1, duration_s: 1}\n"
        "  - {name: crashed, type: crash, target: endpoint, start_s: 2, duration_s: 1}\n"
        "  - {name: stopped, type: stop, target: feature-store, start_s: 3, duration_s: 1,\n"
        "     attributes: {grace_s: 1}}\n"
        "  - {name: squeezed, type: limit, target: endpoint, start_s: 4, duration_s: 1,\n"
        "     attributes: {cpus: 0.5, memory_mb: 256}}\n"
    )
    faults = [f.fault for f in scenario.faults]
    assert faults == [
        HttpError("feature-store", (Abort(status=429, percentage=50.0, retry_after_s=1.0),)),
        Pause("endpoint"),
        Crash("endpoint"),
        Stop("feature-store", grace_s=1),
        ResourceLimit("endpoint", cpus=0.5, memory_bytes=256 << 20),
    ]


@pytest.mark.parametrize(
    ("fault", "field", "fragment"),
    [
        ("{type: pause, target: toxiproxy}", "faults[0].target", "for a pause fault"),
        ("{type: abort, target: enrichment}", "faults[0].target", "for a abort fault"),
        ("{type: latency, target: feature-store, attributes: {status: 1}}",
         "faults[0].attributes", "for a latency toxic"),
        ("{type: http_error, target: feature-store, attributes: {status: 200}}",
         "faults[0].attributes.status", "expected status in 400..599"),
        ("{type: abort, target: endpoint, attributes: {percentage: 120}}",
         "faults[0].attributes.percentage", "expected percentage in 0..100"),
        ("{type: malformed, target: endpoint, attributes: {what: garbage}}",
         "faults[0].attributes.what", "expected what among"),
        ("{type: delay, target: feature-store, attributes: {latency: {type: gamma}}}",
         "faults[0].attributes", "expected latency type among"),
        ("{type: rate_limit, target: feature-store, attributes: {rps: 0}}",
         "faults[0].attributes.rps", "expected rps > 0"),
        ("{type: pause, target: endpoint, attributes: {seconds: 1}}",
         "faults[0].attributes", "for a pause fault but got ['seconds']"),
        ("{type: crash, target: endpoint, stream: upstream}", "faults[0].stream",
         "only network faults"),
        ("{type: limit, target: endpoint}", "faults[0].attributes", "expected cpus or memory"),
        ("{type: explode, target: endpoint}", "faults[0].type", "but got type='explode'"),
    ],
)  # fmt: skip
def test_bad_fault_names_its_field(fault: str, field: str, fragment: str) -> None:
    text = (
        "name: x\nload: {rate: 1, duration_s: 10}\nfaults:\n"
        f"  - {{name: f, start_s: 0, duration_s: 1, {fault[1:-1]}}}\n"
    )
    _rejected(text, field, fragment)


def test_a_surge_fault_shapes_the_load_and_only_one_is_allowed() -> None:
    text = (
        "name: x\nload: {rate: 10, duration_s: 10}\nfaults:\n"
        "  - {name: s, type: surge, target: endpoint, start_s: 2, duration_s: 4,\n"
        "     attributes: {factor: 3, rise_s: 1}}\n"
    )
    shape = parse_scenario(text).load_shape()
    assert shape.rate_at(1.0) == 10
    assert shape.rate_at(2.5) == pytest.approx(20)
    assert shape.rate_at(4.0) == 30
    assert shape.rate_at(6.5) == 10
    assert len(list(shape.offsets())) == 10 * 10 + 10 * 0.5 * 2 + 20 * 3

    _rejected(
        text + text.split("faults:\n")[1].replace("name: s", "name: t"),
        "faults[1].type",
        "at most one surge",
    )


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ("target: {url: 'ftp://x'}\n", "target.url", "expected an http:// URL"),
        ("target: {url: 'http://127.0.0.1:1', health_path: ping}\n", "target.health_path",
         "starting with /"),
        ("target: {url: 'http://127.0.0.1:1'}\nendpoint: {concurrency: 2}\n", "endpoint",
         "runs no endpoint"),
        ("target: {url: 'http://127.0.0.1:1'}\nfaults:\n  - {name: f, type: pause, "
         "target: endpoint, start_s: 0, duration_s: 1}\n", "faults[0].type", "only network"),
    ],
)  # fmt: skip
def test_bad_external_target_names_its_field(extra: str, field: str, fragment: str) -> None:
    _rejected(f"name: x\nload: {{rate: 1, duration_s: 5}}\n{extra}", field, fragment)


def test_external_target_defaults() -> None:
    scenario = parse_scenario(
        "name: x\nload: {rate: 1, duration_s: 1}\ntarget: {url: 'http://127.0.0.1:9/'}\n"
    )
    assert scenario.target == ExternalTarget("http://127.0.0.1:9", "/invocations", "/health", "")


@pytest.mark.parametrize(
    ("target", "field", "fragment"),
    [
        ("{url: 'http://127.0.0.1:1', command: [x]}", "target", "exactly one of url, command"),
        ("{command: []}", "target.command", "non-empty list"),
        ("{command: x}", "target.command", "a list of strings"),
        ("{command: [x], args: [y]}", "target.args", "follow an image"),
        ("{invocations_path: /x}", "target", "but got none"),
    ],
)
def test_bad_custom_target_names_its_field(target: str, field: str, fragment: str) -> None:
    _rejected(f"name: x\nload: {{rate: 1, duration_s: 5}}\ntarget: {target}\n", field, fragment)


def test_custom_command_target_and_body() -> None:
    scenario = parse_scenario(
        "name: x\ntarget: {command: [serve, --port, '{port}']}\n"
        "load: {rate: 1, duration_s: 5, body: {inputs: [[1, 2]]}}\n"
    )
    target = scenario.target
    assert target is not None
    assert target.kind == "command"
    store, fraud = Dependency("feature-store"), Dependency("fraud-api")
    assert target.expand(target.command, 9000, {store: "http://s"}) == [
        "serve",
        "--port",
        "9000",
    ]
    upstreams = {store: "http://s", fraud: "http://f"}
    assert target.expand(("{feature_store_url}", "{fraud_api_url}"), 1, upstreams) == [
        "http://s",
        "http://f",
    ]
    assert target.environment(1, upstreams) == {
        "PORT": "1",
        "SERVING_CHAOS_DEP_FEATURE_STORE_URL": "http://s",
        "FEATURE_STORE_URL": "http://s",
        "SERVING_CHAOS_DEP_FRAUD_API_URL": "http://f",
        "FRAUD_API_URL": "http://f",
    }
    assert scenario.load.body == b'{"inputs": [[1, 2]]}'
    with pytest.raises(ScenarioError, match="expected JSON"):
        parse_scenario("name: x\nload: {rate: 1, duration_s: 5, body: '{nope'}\n")


def test_load_arrivals_take_every_shape(tmp_path: Path) -> None:
    def shape(arrivals: str) -> str:
        text = f"name: x\nload: {{rate: 10, duration_s: 6, arrivals: {arrivals}}}\n"
        path = tmp_path / "s.yaml"
        path.write_text(text)
        return load_scenario(path).load_shape().label

    (tmp_path / "rates.csv").write_text("second,rate\n0,5\n1,50\n2,5\n")
    assert shape("{shape: ramp, to: 30}") == "ramp 10->30/s"
    assert "poisson" in shape("{shape: poisson, seed: 3}")
    assert "step" in shape("{shape: step, add: 5, every_s: 2}")
    assert "sine" in shape("{shape: sine, period_s: 3}")
    assert "rates.csv" in shape("{shape: trace, file: rates.csv, kind: rates}")


@pytest.mark.parametrize(
    ("arrivals", "field", "fragment"),
    [
        ("{shape: zigzag}", "load.arrivals.shape", "but got shape='zigzag'"),
        ("{shape: ramp}", "load.arrivals.to", "required field is missing"),
        ("{shape: ramp, to: 5, every_s: 1}", "load.arrivals.every_s", "unknown field"),
        ("{shape: trace, file: nowhere.csv}", "load.arrivals", "nowhere.csv"),
    ],
)
def test_bad_arrivals_name_their_field(arrivals: str, field: str, fragment: str) -> None:
    _rejected(
        f"name: x\nload: {{rate: 10, duration_s: 6, arrivals: {arrivals}}}\n", field, fragment
    )


def test_a_surge_and_arrivals_do_not_mix() -> None:
    with pytest.raises(ScenarioError, match=r"drop load\.arrivals"):
        parse_scenario(
            "name: x\nload: {rate: 10, duration_s: 6, arrivals: {shape: poisson}}\nfaults:\n"
            "  - {name: s, type: surge, target: endpoint, start_s: 1, duration_s: 2,\n"
            "     attributes: {factor: 2}}\n"
        )


def test_load_engine_defaults_to_aiohttp_and_takes_the_others_by_name() -> None:
    def engine(text: str) -> str:
        return parse_scenario(f"name: x\nload: {{rate: 10, duration_s: 6{text}}}\n").load.engine

    assert engine("") == "aiohttp"
    assert [engine(f", engine: {name}") for name in ("http1", "curl", "auto")] == [
        "http1",
        "curl",
        "auto",
    ]
    _rejected(
        "name: x\nload: {rate: 10, duration_s: 6, engine: turbo}\n",
        "load.engine",
        "but got engine='turbo'",
    )


def test_a_streamed_load_takes_its_objectives_and_refuses_engines_that_read_whole_answers() -> None:
    text = (
        "name: x\nload: {rate: 10, duration_s: 6, stream: true,\n"
        "       slo: {ttft_ms: 500, tpot_ms: 50}}\n"
        "budgets:\n  - ttft_p99_ms < 500\n  - goodput > 0.95\n"
    )
    load = parse_scenario(text).load

    assert load.stream
    assert (load.slo.ttft_ms, load.slo.tpot_ms, load.slo.e2e_ms) == (500, 50, None)
    _rejected(
        "name: x\nload: {rate: 10, duration_s: 6, stream: true, engine: curl}\n",
        "load.engine",
        "expected one of ['auto', 'aiohttp', 'http1', 'native'] with stream: true but got "
        "engine='curl'",
    )
    _rejected(
        "name: x\nload: {rate: 10, duration_s: 6, slo: {ttft_ms: 500}}\n",
        "load.slo",
        "need stream: true",
    )
    _rejected(
        "name: x\nload: {rate: 10, duration_s: 6, stream: yes please}\n",
        "load.stream",
        "expected true or false",
    )
