"""The compose-subset reader: the shipped file, each supported key, and errors naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ScenarioError
from harness.system.backends.docker.compose import (
    Build,
    HealthCheck,
    Limits,
    load_compose,
    parse_compose,
)

ROOT = Path(__file__).resolve().parents[2]


def _one(service: dict[str, Any]) -> dict[str, Any]:
    return {"services": {"svc": service}}


def test_shipped_compose_file_holds_the_default_topology_on_host_networking() -> None:
    compose = load_compose(ROOT / "docker-compose.yml")
    assert set(compose.services) == {
        "toxiproxy", "proxies", "feature-store", "enrichment", "endpoint"
    }  # fmt: skip
    assert compose.start_order()[-1] == "endpoint"
    assert all(s.network_mode == "host" for s in compose.services.values())
    assert all(s.limits.cpus and s.limits.memory_bytes for s in compose.services.values())
    endpoint = compose.services["endpoint"]
    assert endpoint.depends_on["feature-store"] == "service_healthy"
    assert endpoint.depends_on["proxies"] == "service_completed_successfully"
    assert endpoint.healthcheck is not None
    assert endpoint.healthcheck.interval_s == 1.0
    assert endpoint.environment["PORT"] == "8080"
    assert compose.services["toxiproxy"].image == "ghcr.io/shopify/toxiproxy:2.12.0"


def test_every_supported_key_is_read_into_value_objects() -> None:
    compose = parse_compose(
        {
            "services": {
                "db": {"image": "x"},
                "svc": {
                    "build": {"context": ".", "dockerfile": "D", "args": ["BASE=b"]},
                    "command": "serve --port 8080",
                    "environment": ["A=1", "B=two=2"],
                    "ports": ["127.0.0.1:8080:8080", 9090],
                    "healthcheck": {
                        "test": "curl -f localhost",
                        "interval": "1m30s",
                        "timeout": "500ms",
                        "retries": 2,
                    },
                    "depends_on": {"db": {"condition": "service_healthy"}},
                    "deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "1.5g"}}},
                    "network_mode": "host",
                },
            }
        }
    )
    svc = compose.services["svc"]
    assert svc.build == Build(context=".", dockerfile="D", args={"BASE": "b"})
    assert svc.command == ("serve", "--port", "8080")
    assert svc.environment == {"A": "1", "B": "two=2"}
    assert svc.ports == ("127.0.0.1:8080:8080", "9090")
    assert svc.healthcheck == HealthCheck(
        test=("curl -f localhost",), shell=True, interval_s=90.0, timeout_s=0.5, retries=2
    )
    assert svc.depends_on == {"db": "service_healthy"}
    assert svc.limits == Limits(cpus=0.5, memory_bytes=int(1.5 * (1 << 30)))
    assert compose.start_order() == ["db", "svc"]


def test_cmd_form_health_check_keeps_argv_and_none_disables_it() -> None:
    argv = parse_compose(_one({"image": "x", "healthcheck": {"test": ["CMD", "true", "-v"]}}))
    assert argv.services["svc"].healthcheck == HealthCheck(test=("true", "-v"))
    off = parse_compose(_one({"image": "x", "healthcheck": {"test": ["NONE"]}}))
    assert off.services["svc"].healthcheck == HealthCheck(test=())


@pytest.mark.parametrize(
    ("service", "field", "found"),
    [
        ({"command": "x"}, "services.svc.image", "image=None"),
        ({"image": "x", "restart": "always"}, "services.svc.restart", "'restart'"),
        ({"image": "x", "environment": ["NOVALUE"]}, "services.svc.environment", "NOVALUE"),
        ({"image": "x", "depends_on": ["ghost"]}, "services.svc.depends_on", "ghost"),
        (
            {"image": "x", "healthcheck": {"test": ["CMD"], "interval": "soon"}},
            "services.svc.healthcheck.test",
            "['CMD']",
        ),
        (
            {"image": "x", "healthcheck": {"test": "true", "interval": "soon"}},
            "services.svc.healthcheck.interval",
            "interval='soon'",
        ),
        (
            {"image": "x", "healthcheck": {"test": "true", "retries": -1}},
            "services.svc.healthcheck.retries",
            "retries=-1",
        ),
        (
            {"image": "x", "deploy": {"resources": {"limits": {"memory": "lots"}}}},
            "services.svc.deploy.resources.limits.memory",
            "memory='lots'",
        ),
        (
            {"image": "x", "deploy": {"resources": {"limits": {"cpus": 0}}}},
            "services.svc.deploy.resources.limits.cpus",
            "cpus=0",
        ),
        (
            {"image": "x", "deploy": {"replicas": 2}},
            "services.svc.deploy.replicas",
            "'replicas'",
        ),
        ({"image": ["x"]}, "services.svc.image", "image=['x']"),
    ],
)
def test_invalid_values_name_the_field_and_what_was_found(
    service: dict[str, Any], field: str, found: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_compose(_one(service), "my-compose.yml")
    assert caught.value.field == field
    assert caught.value.source == "my-compose.yml"
    assert found in str(caught.value)
    assert "expected" in str(caught.value)


def test_unknown_condition_is_rejected_with_the_valid_ones() -> None:
    spec = _one({"image": "x", "depends_on": {"svc2": {"condition": "soonish"}}})
    spec["services"]["svc2"] = {"image": "y"}
    with pytest.raises(ScenarioError, match="service_healthy") as caught:
        parse_compose(spec)
    assert caught.value.field == "services.svc.depends_on.svc2.condition"


def test_dependency_cycle_is_reported_with_its_path() -> None:
    spec = {
        "services": {
            "a": {"image": "x", "depends_on": ["b"]},
            "b": {"image": "x", "depends_on": ["a"]},
        }
    }
    with pytest.raises(ScenarioError, match="a -> b -> a"):
        parse_compose(spec)


def test_missing_services_and_bad_yaml_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_compose({"version": "3"})
    assert caught.value.field == "services"
    broken = tmp_path / "compose.yml"
    broken.write_text("services: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_compose(broken)
