"""The ``dependencies:`` section, HTTP faults on every hop, and dependency budgets: what a
scenario says becomes the system the wiring brings up; bad input names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults import HttpError
from faults.http import Abort, Delay, Fixed, LogNormal, Malformed, RateLimit, Uniform
from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario
from harness.system.spec import REFERENCE_DEPENDENCIES, Dependency, ExternalTarget

SCENARIOS = Path(__file__).resolve().parents[2] / "suites" / "scenarios"

_OWN = """\
name: own
target: {command: ["{python}", server.py, --port, "{port}", "{deps.enrich.url}"]}
dependencies:
  features:
    kind: routes
    env: FEATURES_URL
    routes:
      - {path: {prefix: /v1/}, response: {json: {ok: true}}, latency: 5}
  enrich:
    kind: features
load: {rate: 5, duration_s: 4}
"""


def _rejected(text: str, field: str, fragment: str, source: str = "<scenario>") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=source)
    assert info.value.field == field
    assert fragment in str(info.value)
    return info.value


def test_no_dependencies_section_keeps_the_reference_feature_store() -> None:
    for text in (
        "name: x\nload: {rate: 1, duration_s: 1}\n",
        "name: x\ntarget: {command: [serve]}\nload: {rate: 1, duration_s: 1}\n",
    ):
        scenario = parse_scenario(text)
        assert scenario.dependencies == REFERENCE_DEPENDENCIES
        assert scenario.system.http_front is False


def test_declared_dependencies_become_stubs_with_their_specs_in_order() -> None:
    scenario = parse_scenario(_OWN)
    features, enrich = scenario.dependencies
    assert (features.name, features.kind, features.env) == ("features", "routes", "FEATURES_URL")
    assert json.loads(features.spec)["routes"][0]["latency"] == 5
    assert (enrich.name, enrich.kind, enrich.env) == ("enrich", "features", "")
    assert scenario.system.dependency_names == ("features", "enrich")
    assert scenario.system.http_hops == ("endpoint", "features", "enrich")


def test_a_server_finds_each_dependency_by_placeholder_and_environment() -> None:
    target = ExternalTarget(command=("serve", "{deps.enrich.url}", "{enrich_url}", "{port}"))
    upstreams = {
        Dependency("features", env="FEATURES_URL"): "http://127.0.0.1:1",
        Dependency("enrich"): "http://127.0.0.1:2",
    }
    assert target.expand(target.command, 9, upstreams) == [
        "serve",
        "http://127.0.0.1:2",
        "http://127.0.0.1:2",
        "9",
    ]
    env = target.environment(9, upstreams)
    assert env["FEATURES_URL"] == "http://127.0.0.1:1"
    assert env["SERVING_CHAOS_DEP_ENRICH_URL"] == "http://127.0.0.1:2"
    assert env["ENRICH_URL"] == "http://127.0.0.1:2"
    assert env["PORT"] == "9"


def test_routes_may_live_in_a_file_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text("routes:\n  - {path: /a, response: {status: 204}}\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: x\ntarget: {command: [serve]}\n"
        "dependencies: {api: {kind: routes, routes: routes.yaml}}\n"
        "load: {rate: 1, duration_s: 1}\n"
    )
    (dependency,) = load_scenario(scenario).dependencies
    assert json.loads(dependency.spec)["routes"] == [{"path": "/a", "response": {"status": 204}}]


def test_replay_reads_its_recording_and_proxy_records_next_to_the_scenario(
    tmp_path: Path,
) -> None:
    recording = {
        "version": 1,
        "upstream": "http://127.0.0.1:1",
        "exchanges": [
            {
                "request": {"method": "GET", "path": "/a", "headers": {}, "body": ""},
                "response": {"status": 200, "headers": {}, "body": "{}"},
                "latency_ms": 12.5,
            }
        ],
    }
    (tmp_path / "rec.json").write_text(json.dumps(recording))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: x\ntarget: {command: [serve]}\n"
        "dependencies:\n"
        "  old: {kind: replay, file: rec.json}\n"
        "  live: {kind: proxy, upstream: 'http://127.0.0.1:9/', record: out/live.json}\n"
        "load: {rate: 1, duration_s: 1}\n"
    )
    old, live = load_scenario(scenario).dependencies
    assert json.loads(old.spec)["exchanges"][0]["latency_ms"] == 12.5
    assert json.loads(live.spec) == {
        "kind": "proxy",
        "upstream": "http://127.0.0.1:9",
        "record": True,
    }
    assert live.record == str(tmp_path / "out" / "live.json")


def test_http_faults_on_every_hop_are_read_with_their_kinds() -> None:
    text = _OWN + (
        "faults:\n"
        "  - {name: a, type: abort, target: endpoint, start_s: 0, duration_s: 1,\n"
        "     attributes: {status: 503, percentage: 50, retry_after_s: 2}}\n"
        "  - {name: b, type: rate_limit, target: features, start_s: 0, duration_s: 1,\n"
        "     attributes: {rps: 10, burst: 3}}\n"
        "  - {name: c, type: delay, target: enrich, start_s: 1, duration_s: 1,\n"
        "     attributes: {latency: {type: lognormal, median: 40, sigma: 0.5}}}\n"
        "  - {name: d, type: malformed, target: endpoint, start_s: 2, duration_s: 1,\n"
        "     attributes: {what: reset, percentage: 10}}\n"
        "  - {name: e, type: http_error, target: features, start_s: 3, duration_s: 1,\n"
        "     attributes: {status: 429, rate: 0.5, latency_ms: 20}}\n"
        "  - {name: f, type: delay, target: features, start_s: 3, duration_s: 1,\n"
        "     attributes: {latency: {type: uniform, lower: 1, upper: 3}}}\n"
    )
    scenario = parse_scenario(text)
    assert [f.fault for f in scenario.faults] == [
        HttpError("endpoint", (Abort(503, 50.0, 2.0),)),
        HttpError("features", (RateLimit(10.0, 3),)),
        HttpError("enrich", (Delay(LogNormal(40.0, 0.5)),)),
        HttpError("endpoint", (Malformed("reset", 10.0),)),
        HttpError("features", (Delay(Fixed(20.0)), Abort(429, 50.0))),
        HttpError("features", (Delay(Uniform(1.0, 3.0)),)),
    ]
    # An HTTP fault on the client's hop puts the HTTP fault layer in front of the endpoint.
    assert scenario.system.http_front is True


def test_shipped_own_server_scenario_parses() -> None:
    scenario = load_scenario(SCENARIOS / "own_server_dependencies.yaml")
    assert scenario.system.dependency_names == ("features-api", "enrichment-api")
    assert scenario.system.http_front is True
    assert scenario.target is not None
    assert scenario.target.command[1].endswith("scoring_server.py")
    assert Path(scenario.target.command[1]).is_file()


@pytest.mark.parametrize(
    ("section", "field", "fragment"),
    [
        ("{Bad_Name: {kind: features}}", "dependencies.Bad_Name", "lowercase letters"),
        ("{endpoint: {kind: features}}", "dependencies.endpoint", "other than"),
        ("{api: {kind: graphql}}", "dependencies.api.kind", "but got kind='graphql'"),
        ("{api: {kind: routes, routes: [{path: /a}]}}", "dependencies.api.routes[0].response",
         "response"),
        ("{api: {kind: routes, routes: [{path: {regex: '(unclosed'}, response: {status: 200}}]}}",
         "dependencies.api.routes[0].path.regex", ""),
        ("{api: {kind: features, env: 1BAD}}", "dependencies.api.env",
         "environment variable name"),
        ("{api: {kind: features, env: SAME}, other: {kind: features, env: SAME}}",
         "dependencies.other.env", "already carries"),
        ("{api: {kind: replay, file: missing.json}}", "dependencies.api.file", "cannot read"),
        ("{api: {kind: proxy, upstream: 'ftp://x'}}", "dependencies.api.upstream", "http://"),
        ("{api: {kind: features, upstream: 'http://x'}}", "dependencies.api.upstream",
         "unknown field"),
    ],
)  # fmt: skip
def test_bad_dependencies_name_their_field(section: str, field: str, fragment: str) -> None:
    text = f"name: x\ntarget: {{command: [serve]}}\ndependencies: {section}\n"
    text += "load: {rate: 1, duration_s: 1}\n"
    error = _rejected(text, field, fragment)
    assert ":3" in str(error.source)


def test_a_replay_file_that_does_not_parse_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "rec.json").write_text("{not json")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: x\ntarget: {command: [serve]}\n"
        "dependencies: {api: {kind: replay, file: rec.json}}\nload: {rate: 1, duration_s: 1}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario)
    assert info.value.field == "dependencies.api.file"
    assert "rec.json is not a recording" in str(info.value)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("name: x\ntarget: {url: 'http://127.0.0.1:1'}\ndependencies: {a: {kind: features}}\n",
         "dependencies", "cannot be pointed at stubs"),
        ("name: x\ndependencies: {payments: {kind: features}}\n", "dependencies.payments",
         "the reference endpoint calls"),
        ("name: x\ntarget: {command: [s, '{deps.nope.url}']}\ndependencies: {a: {}}\n",
         "target.command", "names no declared dependency"),
        ("name: x\ntarget: {url: 'https://127.0.0.1:1'}\nfaults:\n"
         "  - {name: f, type: abort, target: endpoint, start_s: 0, duration_s: 1}\n",
         "faults[0].type", "need an http:// target"),
        ("name: x\nfaults:\n"
         "  - {name: f, type: abort, target: payments, start_s: 0, duration_s: 1}\n",
         "faults[0].target", "expected one of ['endpoint', 'feature-store']"),
        ("name: x\nbudgets: ['dep.payments.calls < 3']\n", "budgets[0].expect",
         "names no dependency"),
        ("name: x\nfaults:\n"
         "  - {name: f, type: abort, target: endpoint, start_s: 0, duration_s: 1}\n"
         "budgets: [{expect: 'dep.feature-store.calls < 3', phase: 'during:f'}]\n",
         "budgets[0].phase", "whole run"),
    ],
)  # fmt: skip
def test_misplaced_dependencies_and_faults_are_refused(
    text: str, field: str, fragment: str
) -> None:
    _rejected(text + "load: {rate: 1, duration_s: 1}\n", field, fragment)


def test_dependency_budgets_parse() -> None:
    scenario = parse_scenario(
        "name: x\nload: {rate: 1, duration_s: 1}\n"
        "budgets: ['dep.feature-store.calls_per_request < 3',\n"
        "          'dep.feature-store.status_429 == 0']\n"
    )
    assert [b.metric for b in scenario.budgets] == [
        "dep.feature-store.calls_per_request",
        "dep.feature-store.status_429",
    ]
