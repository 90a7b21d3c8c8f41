"""Feature-store stub parts that need no server: deterministic features, fault and config
validation, the CLI flags. The stub over HTTP is in the integration tier's test_stub."""

from __future__ import annotations

import argparse

import pytest

from harness.servers.stub import (
    HttpFault,
    StubConfig,
    add_arguments,
    config_from_args,
    features_for,
)


def test_features_depend_on_seed_and_width() -> None:
    base = features_for("k", n_features=8, seed=0)
    assert features_for("k", n_features=8, seed=0) == base
    assert features_for("k", n_features=8, seed=1) != base
    wide = features_for("k", n_features=40, seed=0)
    assert len(wide) == 40
    assert len(set(wide)) == 40


def test_fault_defaults_and_validation_message() -> None:
    assert HttpFault.from_json({}) == HttpFault(status=503, rate=1.0)
    assert HttpFault.from_json({"rate": 0, "latency_ms": 5}).latency_ms == 5.0
    with pytest.raises(ValueError, match=r"rate=2\.0"):
        HttpFault(rate=2.0)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="n_features=0"):
        StubConfig(n_features=0)
    with pytest.raises(ValueError, match="port=70000"):
        StubConfig(port=70000)


def test_cli_flags_build_config_with_defaults_for_the_rest() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(
        parser.parse_args(["--port", "0", "--n-features", "4", "--name", "enrich", "--seed", "3"])
    )
    assert config == StubConfig(port=0, n_features=4, name="enrich", seed=3)
    assert config_from_args(parser.parse_args([])) == StubConfig()
