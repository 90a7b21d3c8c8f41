"""`serving-chaos endpoint` flags: every config field has one, and configs round-trip."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from harness.servers.endpoint import EndpointConfig, add_arguments, config_from_args, config_to_argv

EVERYTHING = EndpointConfig(
    name="churn",
    upstreams=(("feature-store", "http://127.0.0.1:9"), ("enrichment", "http://127.0.0.1:10")),
    auth_token="-starts-with-a-dash",
    concurrency=2,
    max_queue=3,
    overflow_status=503,
    retry_after_s=5,
    queue_timeout_s=0.5,
    request_timeout_s=2.5,
    max_qps=200.0,
    service_time_ms=1.5,
    per_record_ms=0.1,
    max_batch_size=8,
    max_batch_delay_ms=5.0,
    upstream_timeout_s=0.25,
    upstream_max_attempts=5,
    upstream_backoff_base_s=0.01,
    upstream_backoff_cap_s=0.3,
    retry_budget_tokens=20.0,
    retry_budget_ratio=0.2,
    cache_ttl_s=30.0,
    single_flight=False,
    min_concurrency=0,
    max_concurrency=16,
    scale_target=0.7,
    scale_stable_window_s=6.0,
    scale_panic_window_s=0.6,
    scale_panic_threshold=3.0,
    scale_reaction_delay_s=1.0,
    scale_provisioning_delay_s=2.0,
    scale_to_zero_idle_s=3.0,
    cold_start_s=1.5,
    max_payload_bytes=1024,
    seed=9,
    access_log=True,
    uvloop=False,
    llm=True,
    default_max_tokens=16,
    prefill_ms_per_token=1.5,
    decode_tokens_per_s=25.0,
    max_sequences=3,
    kv_cache_tokens=4096,
    llm_max_waiting=5,
    llm_queue_timeout_s=2.5,
)


def _parse(argv: list[str]) -> EndpointConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def test_every_field_but_host_and_port_differs_in_the_fixture() -> None:
    defaults = EndpointConfig()
    same = [
        f.name
        for f in dataclasses.fields(EndpointConfig)
        if getattr(EVERYTHING, f.name) == getattr(defaults, f.name)
    ]
    assert same == ["host", "port"]


def test_config_round_trips_through_argv() -> None:
    argv = config_to_argv(EVERYTHING)
    # One flag per field but host and port, and one --upstream per upstream.
    fields = len(dataclasses.fields(EndpointConfig)) - 2
    assert len(argv) == fields - 1 + len(EVERYTHING.upstreams)
    assert _parse(argv) == EVERYTHING


def test_old_upstream_flags_and_upstream_name_checks() -> None:
    aliased = _parse(["--feature-store-url", "http://127.0.0.1:9"])
    assert aliased.upstreams == (("feature-store", "http://127.0.0.1:9"),)
    with pytest.raises(ValueError, match="upstreams"):
        EndpointConfig(upstreams=(("payments", "http://127.0.0.1:9"),))
    with pytest.raises(ValueError, match="NAME=URL"):
        _parse(["--upstream", "feature-store"])


def test_defaults_give_no_flags_and_no_flags_give_defaults() -> None:
    assert config_to_argv(EndpointConfig(host="0.0.0.0", port=1)) == []
    assert _parse([]) == EndpointConfig()


def test_boolean_flags_go_both_ways() -> None:
    assert _parse(["--no-single-flight"]).single_flight is False
    assert _parse(["--single-flight"]).single_flight is True
    assert config_to_argv(dataclasses.replace(EndpointConfig(), single_flight=False)) == [
        "--no-single-flight"
    ]


def test_legacy_flag_names_still_work() -> None:
    config = _parse(["--retry-after=7", "--upstream-timeout=0.5", "--port=0"])
    assert (config.retry_after_s, config.upstream_timeout_s, config.port) == (7, 0.5, 0)
