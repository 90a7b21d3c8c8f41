"""Reference endpoint parts that need no server: payload parsing, admission, the model and
its configuration. What it does over HTTP is in the integration tier's test_endpoint."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest

from harness.servers.endpoint import (
    Admission,
    ApiError,
    EndpointConfig,
    LogisticModel,
    QueueFull,
    add_arguments,
    config_from_args,
    entity_key,
    parse_records,
)
from tests.serving import rows
from tests.waiting import run_async

# --- payload formats -------------------------------------------------------------------------


def test_split_without_columns_is_positional() -> None:
    records = parse_records({"dataframe_split": {"data": [[1, "a"], [2, "b"]]}})
    assert records == [{"0": 1, "1": "a"}, {"0": 2, "1": "b"}]


@pytest.mark.parametrize("width", [0, 1, 63, 64, 65, 300])
def test_positional_rows_of_any_width_name_every_value(width: int) -> None:
    row = list(range(width))
    (record,) = parse_records({"instances": [row]})
    assert record == {str(i): i for i in range(width)}


def test_entity_key_prefers_entity_id_and_is_stable_otherwise() -> None:
    assert entity_key({"entity_id": 42, "x": 1}) == "42"
    assert entity_key({"a": 1, "b": 2}) == entity_key({"b": 2, "a": 1})
    assert entity_key({"a": 1}) != entity_key({"a": 2})


def test_wrong_keys_message_lists_valid_ones() -> None:
    with pytest.raises(ApiError) as caught:
        parse_records({"rows": []})
    assert caught.value.status == 400
    for key in ("rows", "dataframe_split", "dataframe_records", "instances", "inputs"):
        assert key in caught.value.message


# --- admission: provisioned concurrency and the bounded queue --------------------------------


def test_admission_is_fifo_and_bounded() -> None:
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=2)
        order: list[int] = []
        gate = asyncio.Event()

        async def work(n: int) -> None:
            async with admission.unit():
                order.append(n)
                await gate.wait()

        tasks = [asyncio.create_task(work(n)) for n in range(3)]
        await asyncio.sleep(0)
        assert (admission.inflight, admission.queued) == (1, 2)
        with pytest.raises(QueueFull):
            async with admission.unit():
                pass
        gate.set()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]
        assert (admission.inflight, admission.queued) == (0, 0)

    run_async(scenario)


def test_admission_passes_on_a_unit_handed_to_a_cancelled_waiter() -> None:
    async def scenario() -> None:
        admission = Admission(concurrency=1, max_queue=5)
        got: list[str] = []

        async def waiter(name: str) -> None:
            async with admission.unit():
                got.append(name)

        async with admission.unit():
            doomed = asyncio.create_task(waiter("doomed"))
            survivor = asyncio.create_task(waiter("survivor"))
            await asyncio.sleep(0)
            assert admission.queued == 2
        # Leaving the block handed the unit to `doomed` without yielding to the loop, so
        # `doomed` has not run yet: cancelling it now must pass the unit on, not lose it.
        doomed.cancel()
        await asyncio.gather(doomed, survivor, return_exceptions=True)
        assert got == ["survivor"]
        assert (admission.inflight, admission.queued) == (0, 0)

    run_async(scenario)


# --- model and configuration -----------------------------------------------------------------


def test_model_is_seeded_and_checks_shapes() -> None:
    records = rows(4)
    vectors = [[0.5] * 8] * 4
    assert LogisticModel(1).predict(records, vectors) == LogisticModel(1).predict(records, vectors)
    assert LogisticModel(1).predict(records, vectors) != LogisticModel(2).predict(records, vectors)
    with pytest.raises(ValueError, match="records=4 features=3"):
        LogisticModel(1).predict(records, vectors[:3])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("concurrency", 0),
        ("max_queue", -1),
        ("overflow_status", 500),
        ("upstream_timeout_s", 0.0),
        ("max_payload_bytes", 0),
        ("service_time_ms", -1.0),
    ],
)
def test_config_validation_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"expected .* but got {field}={value}"):
        EndpointConfig(**{field: value})


def test_queue_limit_defaults_to_ten_per_unit() -> None:
    assert EndpointConfig(concurrency=4).queue_limit == 40
    assert EndpointConfig(concurrency=4, max_queue=0).queue_limit == 0


def test_cli_flags_build_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = [
        "--port=0",
        "--name=churn",
        "--feature-store-url=http://127.0.0.1:9",
        "--concurrency=2",
        "--max-queue=3",
        "--overflow-status=503",
        "--retry-after=5",
        "--service-time-ms=1.5",
        "--per-record-ms=0.5",
        "--upstream-timeout=0.25",
        "--max-payload-bytes=1024",
    ]
    assert config_from_args(parser.parse_args(argv)) == EndpointConfig(
        port=0,
        name="churn",
        upstreams=(("feature-store", "http://127.0.0.1:9"),),
        concurrency=2,
        max_queue=3,
        overflow_status=503,
        retry_after_s=5,
        service_time_ms=1.5,
        per_record_ms=0.5,
        upstream_timeout_s=0.25,
        max_payload_bytes=1024,
    )
    assert config_from_args(parser.parse_args([])) == EndpointConfig()
