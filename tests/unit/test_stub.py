"""Stub parts that need no server: deterministic features, the spec's kinds and their errors,
config validation, the `stub` and `record` flags. The stub over HTTP is in the integration
tier's test_stub and test_stub_kinds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.servers.stub import (
    FeaturesSpec,
    ProxySpec,
    ReplaySpec,
    RoutesSpec,
    StubConfig,
    StubSpecError,
    add_arguments,
    config_from_args,
    features_for,
    read_stub_spec,
    spec_from_args,
    stub_spec_from_json,
    stub_spec_to_json,
)
from harness.servers.stub import record as record_cli
from harness.servers.stub.recording import Exchange, RecordedRequest, RecordedResponse


def test_features_depend_on_seed_and_width() -> None:
    base = features_for("k", n_features=8, seed=0)
    assert features_for("k", n_features=8, seed=0) == base
    assert features_for("k", n_features=8, seed=1) != base
    wide = features_for("k", n_features=40, seed=0)
    assert len(wide) == 40
    assert len(set(wide)) == 40


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="port=70000"):
        StubConfig(port=70000)
    with pytest.raises(ValueError, match="name=''"):
        StubConfig(name="")


# --- the spec's kinds ----------------------------------------------------------------------


def test_each_kind_parses_with_its_defaults() -> None:
    assert stub_spec_from_json({"kind": "features"}) == FeaturesSpec(n_features=8, seed=0)
    assert stub_spec_from_json({"kind": "features", "n_features": 3, "seed": 9}) == FeaturesSpec(
        3, 9
    )
    assert stub_spec_from_json({"kind": "routes", "routes": []}) == RoutesSpec(())
    assert stub_spec_from_json({"kind": "replay", "exchanges": []}) == ReplaySpec(())
    assert stub_spec_from_json({"kind": "proxy", "upstream": "http://127.0.0.1:9000"}) == ProxySpec(
        "http://127.0.0.1:9000", record=False
    )


def test_a_recording_document_with_a_kind_is_a_replay_spec() -> None:
    doc = {
        "kind": "replay",
        "version": 1,
        "upstream": "https://api.example.com",
        "exchanges": [
            {
                "request": {"method": "get", "path": "/a?b=1"},
                "response": {"status": 200, "body": "ok"},
                "latency_ms": 12.5,
            }
        ],
    }
    spec = stub_spec_from_json(doc)
    assert spec == ReplaySpec(
        (Exchange(RecordedRequest("GET", "/a?b=1"), RecordedResponse(200, (), b"ok"), 12.5),)
    )


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ([], "", 'expected {"kind"'),
        (
            {},
            "kind",
            "expected kind among ['features', 'routes', 'replay', 'proxy'] but got kind=None",
        ),
        ({"kind": "grpc"}, "kind", "but got kind='grpc'"),
        ({"kind": "features", "colour": 1}, "colour", "unknown field 'colour'"),
        ({"kind": "features", "n_features": 0}, "n_features", "but got n_features=0"),
        ({"kind": "features", "n_features": True}, "n_features", "but got n_features=True"),
        ({"kind": "features", "seed": "1"}, "seed", "expected an integer"),
        ({"kind": "routes"}, "routes", "expected a list of routes but got routes=None"),
        ({"kind": "replay"}, "exchanges", "expected a list of exchanges"),
        ({"kind": "replay", "version": 2, "exchanges": []}, "version", "but got version=2"),
        ({"kind": "proxy"}, "upstream", "expected a non-empty string but got upstream=None"),
        ({"kind": "proxy", "upstream": "ftp://x"}, "upstream", "upstream='ftp://x'"),
        ({"kind": "proxy", "upstream": "http://"}, "upstream", "with a host"),
        (
            {"kind": "proxy", "upstream": "http://x", "record": "yes"},
            "record",
            "expected true or false but got record='yes'",
        ),
    ],
)
def test_spec_errors_name_the_field(doc: Any, field: str, message: str) -> None:
    with pytest.raises(StubSpecError) as caught:
        stub_spec_from_json(doc)
    assert caught.value.field == field
    assert message in str(caught.value)
    assert str(caught.value) == caught.value.message
    assert caught.value.located().startswith(f"{field}: " if field else "expected")


@st.composite
def _specs(draw: st.DrawFn) -> dict[str, Any]:
    """JSON specs of every kind, as a user might write them."""
    kind = draw(st.sampled_from(["features", "routes", "proxy"]))
    if kind == "features":
        return {
            "kind": kind,
            "n_features": draw(st.integers(1, 64)),
            "seed": draw(st.integers(-(2**40), 2**40)),
        }
    if kind == "proxy":
        port = draw(st.integers(1, 65535))
        return {"kind": kind, "upstream": f"http://127.0.0.1:{port}", "record": draw(st.booleans())}
    scalars = st.one_of(st.integers(-5, 5), st.text(max_size=5), st.booleans(), st.none())
    routes = []
    for _ in range(draw(st.integers(0, 3))):
        route: dict[str, Any] = {
            "path": {
                draw(st.sampled_from(["exact", "prefix"])): "/" + draw(st.text("abc/", max_size=6))
            },
            "response": {
                "status": draw(st.integers(100, 599)),
                "json": draw(
                    st.dictionaries(st.text("xyz", min_size=1, max_size=3), scalars, max_size=3)
                ),
            },
        }
        if draw(st.booleans()):
            route["method"] = draw(st.sampled_from(["GET", "POST", "DELETE"]))
        if draw(st.booleans()):
            route["body"] = {"a.b": draw(scalars)}
        if draw(st.booleans()):
            route["latency"] = {"type": "uniform", "lower": 1.0, "upper": 2.0}
        routes.append(route)
    return {"kind": kind, "routes": routes}


@given(_specs())
# Nested routes are slow to draw on a busy machine; what is drawn is what is judged.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_spec_json_round_trips(doc: dict[str, Any]) -> None:
    spec = stub_spec_from_json(doc)
    again = stub_spec_to_json(spec)
    assert stub_spec_from_json(json.loads(json.dumps(again))) == spec


def test_spec_file_may_be_json_or_yaml(tmp_path: Path) -> None:
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps({"kind": "features", "n_features": 4}))
    as_yaml = tmp_path / "spec.yaml"
    as_yaml.write_text("kind: routes\nroutes:\n  - path: /hello\n    response: {body: hi}\n")
    assert read_stub_spec(as_json) == FeaturesSpec(4, 0)
    spec = read_stub_spec(as_yaml)
    assert isinstance(spec, RoutesSpec)
    assert spec.routes[0].response.text == "hi"


def test_spec_file_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: routes\nroutes:\n  - path: {regex: '('}\n    response: {}\n")
    with pytest.raises(StubSpecError) as caught:
        read_stub_spec(bad)
    assert caught.value.field == "routes[0].path.regex"
    assert str(bad) in caught.value.message
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(StubSpecError, match="does not parse"):
        read_stub_spec(broken)
    with pytest.raises(StubSpecError, match="cannot read stub spec"):
        read_stub_spec(tmp_path / "absent.yaml")


# --- `serving-chaos stub` flags ------------------------------------------------------------


def _stub_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_flags_build_config_and_features_spec_with_defaults_for_the_rest() -> None:
    ns = _stub_flags("--port", "0", "--n-features", "4", "--name", "enrich", "--seed", "3")
    assert config_from_args(ns) == StubConfig(port=0, name="enrich", seed=3)
    assert spec_from_args(ns) == FeaturesSpec(n_features=4, seed=3)
    assert config_from_args(_stub_flags()) == StubConfig()
    assert spec_from_args(_stub_flags()) == FeaturesSpec()
    assert spec_from_args(_stub_flags("--kind", "features")) == FeaturesSpec()


def test_cli_spec_file_gives_the_spec(tmp_path: Path) -> None:
    file = tmp_path / "proxy.yaml"
    file.write_text("kind: proxy\nupstream: http://127.0.0.1:9\nrecord: true\n")
    assert spec_from_args(_stub_flags("--spec", str(file))) == ProxySpec(
        "http://127.0.0.1:9", record=True
    )
    assert spec_from_args(_stub_flags("--spec", str(file), "--kind", "proxy")).kind == "proxy"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "routes"], "--kind routes needs --spec FILE"),
        (["--n-features", "0"], "--n-features: expected an integer in 1..65536"),
        (["--spec", "{file}", "--n-features", "3"], "--n-features goes with the default"),
        (["--spec", "{file}", "--kind", "routes"], "holds a spec of kind proxy"),
        (["--spec", "{missing}"], "cannot read stub spec"),
    ],
)
def test_cli_bad_flags_are_usage_errors(argv: list[str], message: str, tmp_path: Path) -> None:
    file = tmp_path / "proxy.json"
    file.write_text(json.dumps({"kind": "proxy", "upstream": "http://127.0.0.1:9"}))
    filled = [a.format(file=file, missing=tmp_path / "nope.json") for a in argv]
    with pytest.raises(UsageError, match="serving-chaos stub: ") as caught:
        spec_from_args(_stub_flags(*filled))
    assert message in str(caught.value)


def test_cli_spec_error_names_file_and_field(tmp_path: Path) -> None:
    file = tmp_path / "routes.json"
    file.write_text(json.dumps({"kind": "routes", "routes": [{"path": "/x"}]}))
    with pytest.raises(UsageError) as caught:
        spec_from_args(_stub_flags("--spec", str(file)))
    assert f"--spec routes[0].response: {file}: expected a response" in str(caught.value)


# --- `serving-chaos record` flags ----------------------------------------------------------


def _record_flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    record_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--upstream", "localhost:9000"], "expected --upstream as an http:// or https:// URL"),
        (["--upstream", "ftp://x"], "--upstream='ftp://x'"),
        (["--upstream", "http://x", "--port", "70000"], "expected --port in 0..65535"),
        (["--upstream", "http://x", "--duration-s", "0"], "expected --duration-s > 0"),
        (["--upstream", "http://x", "--duration-s", "nan"], "--duration-s=nan"),
    ],
)
def test_record_bad_flags_are_usage_errors(argv: list[str], message: str, tmp_path: Path) -> None:
    ns = _record_flags(*argv, "--out", str(tmp_path / "rec.json"))
    with pytest.raises(UsageError, match="serving-chaos record: ") as caught:
        record_cli.run(ns)
    assert message in str(caught.value)
    assert not (tmp_path / "rec.json").exists()


def test_record_out_must_not_be_a_directory(tmp_path: Path) -> None:
    ns = _record_flags("--upstream", "http://x", "--out", str(tmp_path))
    with pytest.raises(UsageError, match="is a directory"):
        record_cli.run(ns)


def test_record_flags_are_required() -> None:
    with pytest.raises(SystemExit):
        _record_flags("--out", "x.json")
    with pytest.raises(SystemExit):
        _record_flags("--upstream", "http://x")


def test_latency_summary_uses_nearest_rank() -> None:
    def exchange(ms: float) -> Exchange:
        return Exchange(RecordedRequest("GET", "/"), RecordedResponse(200), ms)

    summary = record_cli.latency_summary([exchange(float(ms)) for ms in range(10, 0, -1)])
    assert summary == "upstream latency median 5.0 ms, p90 9.0 ms"
    assert record_cli.latency_summary([]) == "no calls were made"


def test_latency_summary_gives_the_gaps_between_a_streams_events() -> None:
    def exchange(events_ms: tuple[float, ...]) -> Exchange:
        return Exchange(RecordedRequest("POST", "/"), RecordedResponse(200, (), b"", events_ms), 3)

    summary = record_cli.latency_summary(
        [exchange((0, 20, 40, 100)), exchange(()), exchange((5, 25, 45))]
    )

    assert summary == (
        "upstream latency median 3.0 ms, p90 3.0 ms; "
        "2 event streams, gap between events median 20.0 ms, p90 60.0 ms"
    )
