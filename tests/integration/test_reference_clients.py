"""The reference clients of ``harness.clients`` against a real aiohttp server on loopback that
can be told to shed (429 with Retry-After), fail (503, 400, 500), drop connections or be slow.
The server counts every attempt: when it came, for which logical call (each call has its own
URL, as the harness makes them), on which client connection, and how many records it carried."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web

from harness.clients import REFERENCE_CLIENTS, batched, cached, fixed_retries, naive, resilient
from tests.threaded_server import serve_in_thread
from tests.waiting import run_async

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    call: str
    peer: int
    records: int


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does to one attempt: answer late, answer ``status``, or hang up."""

    status: int | None = None  # None: the right answer, after ``delay_s``
    retry_after: str | None = None
    hang_up: bool = False
    delay_s: float = 0.0


class Endpoint:
    """The server's behaviour and what it saw; tests change it from their own thread, so it
    changes under a lock. ``reset`` runs before every test."""

    def __init__(self, base: str = "") -> None:
        self.base = base
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._attempts: list[Attempt] = []
            self._next: deque[Fault] = deque()
            self._always: Fault | None = None

    def url(self, call: object) -> str:
        return f"{self.base}/_call/{call}/invocations"

    def fault_next(self, count: int, fault: Fault) -> None:
        with self._lock:
            self._next.extend([fault] * count)

    def fault_always(self, fault: Fault) -> None:
        with self._lock:
            self._always = fault

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def attempts_of(self, call: object) -> list[Attempt]:
        return [seen for seen in self.attempts if seen.call == str(call)]

    def peers(self) -> set[int]:
        return {seen.peer for seen in self.attempts}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        records = (await request.json())["dataframe_records"]
        assert request.transport is not None
        peer = request.transport.get_extra_info("peername")[1]
        with self._lock:
            self._attempts.append(
                Attempt(time.monotonic(), request.match_info["call"], peer, len(records))
            )
            fault = (self._next.popleft() if self._next else self._always) or Fault()
        await asyncio.sleep(fault.delay_s)
        if fault.hang_up:
            request.transport.close()
            # As a cancelled handler, aiohttp writes nothing more and logs no 500.
            raise asyncio.CancelledError
        if fault.status is None:
            return web.json_response({"predictions": [_prediction(r) for r in records]})
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return web.json_response({"error": fault.status}, status=fault.status, headers=headers)


def _prediction(record: dict[str, Any]) -> dict[str, Any]:
    return {"entity_id": record["entity_id"], "score": record["amount"] * 2}


def _payload(*entities: int) -> dict[str, Any]:
    return {"dataframe_records": [{"entity_id": f"user-{e}", "amount": float(e)} for e in entities]}


SHED = Fault(429, retry_after="1")
DOWN = Fault(503)


@pytest.fixture(scope="module")
def _served() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_post("/_call/{call}/invocations", endpoint.handle)
    with serve_in_thread(app) as base:
        endpoint.base = base
        yield endpoint


@pytest.fixture
def endpoint(_served: Endpoint) -> Endpoint:
    """The module's server, its faults and counts cleared, and the clients' process-wide
    state (retry budget, cache) reset, before the test rather than after it."""
    _served.reset()
    resilient.reset_budget()
    cached.clear_cache()
    return _served


def test_the_registry_names_every_reference_client() -> None:
    for name, path in REFERENCE_CLIENTS.items():
        module, function = path.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name


# --- naive --------------------------------------------------------------------------------


def test_naive_opens_a_connection_per_call(endpoint: Endpoint) -> None:
    for i in range(10):
        assert naive.call(endpoint.url(i), _payload(i)) == {"predictions": [_prediction_of(i)]}
    assert len(endpoint.attempts) == 10
    assert len(endpoint.peers()) == 10


def test_naive_passes_a_503_on_without_retrying(endpoint: Endpoint) -> None:
    endpoint.fault_next(1, DOWN)
    with pytest.raises(requests.HTTPError) as raised:
        naive.call(endpoint.url(0), _payload(0))
    assert raised.value.response is not None
    assert raised.value.response.status_code == 503
    assert len(endpoint.attempts) == 1


# --- fixed retries ------------------------------------------------------------------------


def test_fixed_retries_makes_four_attempts_back_to_back(endpoint: Endpoint) -> None:
    # The server asks for a second between attempts: honouring it would take at least 3 s.
    endpoint.fault_always(SHED)
    with pytest.raises(requests.HTTPError):
        fixed_retries.call(endpoint.url(0), _payload(0))
    attempts = endpoint.attempts
    assert len(attempts) == 4
    assert attempts[-1].at - attempts[0].at < 1.0


def test_fixed_retries_reuses_its_connection(endpoint: Endpoint) -> None:
    for i in range(10):
        fixed_retries.call(endpoint.url(i), _payload(i))
    assert len(endpoint.peers()) == 1


# --- resilient, sync ----------------------------------------------------------------------


def test_resilient_reuses_connections_across_threads(endpoint: Endpoint) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: resilient.call(endpoint.url(i), _payload(i)), range(80)))
    assert answers == [{"predictions": [_prediction_of(i)]} for i in range(80)]
    assert len(endpoint.attempts) == 80
    assert len(endpoint.peers()) <= 8


def test_resilient_retries_a_503_then_succeeds(endpoint: Endpoint) -> None:
    endpoint.fault_next(2, DOWN)
    assert resilient.call(endpoint.url(0), _payload(0)) == {"predictions": [_prediction_of(0)]}
    assert len(endpoint.attempts) == 3


def test_resilient_retries_a_dropped_connection(endpoint: Endpoint) -> None:
    endpoint.fault_next(1, Fault(hang_up=True))
    assert resilient.call(endpoint.url(0), _payload(0)) == {"predictions": [_prediction_of(0)]}
    assert len(endpoint.attempts) == 2


def test_resilient_retries_a_timed_out_attempt(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resilient, "READ_TIMEOUT_S", 0.2)
    endpoint.fault_next(1, Fault(delay_s=1.0))
    assert resilient.call(endpoint.url(0), _payload(0)) == {"predictions": [_prediction_of(0)]}
    assert len(endpoint.attempts) == 2


def test_resilient_waits_out_retry_after_before_retrying_a_429(endpoint: Endpoint) -> None:
    endpoint.fault_next(1, SHED)
    resilient.call(endpoint.url(0), _payload(0))
    first, second = endpoint.attempts
    # The answer left after the first attempt arrived, so the gap is a lower bound of the wait.
    assert second.at - first.at >= 1.0


def test_resilient_gives_up_when_retry_after_is_past_its_cap(endpoint: Endpoint) -> None:
    endpoint.fault_next(1, Fault(429, retry_after="5"))
    with pytest.raises(requests.HTTPError):
        resilient.call(endpoint.url(0), _payload(0))
    assert len(endpoint.attempts) == 1


@pytest.mark.parametrize("status", [400, 500])
def test_resilient_never_retries_what_a_retry_cannot_fix(endpoint: Endpoint, status: int) -> None:
    endpoint.fault_next(1, Fault(status))
    with pytest.raises(requests.HTTPError) as raised:
        resilient.call(endpoint.url(0), _payload(0))
    assert raised.value.response is not None
    assert raised.value.response.status_code == status
    assert len(endpoint.attempts) == 1


def test_resilient_stops_retrying_once_its_budget_is_spent(endpoint: Endpoint) -> None:
    endpoint.fault_always(DOWN)
    calls, threads = 64, 16

    def one(i: int) -> None:
        with pytest.raises(requests.HTTPError):
            resilient.call(endpoint.url(i), _payload(i))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(calls)))
    per_call = [len(endpoint.attempts_of(i)) for i in range(calls)]
    # Unbudgeted, 64 failing calls make 256 attempts. Budgeted, retries are what the bucket
    # holds (20), what the calls deposit (64 x 0.2) and what the 10 retries/s floor adds over
    # the few seconds this takes: well under half of that.
    assert sum(per_call) <= calls + 20 + 13 + 10 * 4, per_call
    assert per_call.count(1) >= calls // 4, per_call


# --- resilient, async ---------------------------------------------------------------------


def test_resilient_acall_retries_what_call_retries(endpoint: Endpoint) -> None:
    async def scenario() -> None:
        try:
            endpoint.fault_next(1, DOWN)
            assert await resilient.acall(endpoint.url("down"), _payload(1)) == {
                "predictions": [_prediction_of(1)]
            }
            endpoint.fault_next(1, SHED)
            await resilient.acall(endpoint.url("shed"), _payload(2))
            endpoint.fault_next(1, Fault(400))
            with pytest.raises(aiohttp.ClientResponseError) as raised:
                await resilient.acall(endpoint.url("bad"), _payload(3))
            assert raised.value.status == 400
        finally:
            await resilient.aclose()

    run_async(scenario)
    assert len(endpoint.attempts_of("down")) == 2
    first, second = endpoint.attempts_of("shed")
    assert second.at - first.at >= 1.0
    assert len(endpoint.attempts_of("bad")) == 1


def test_resilient_acall_reuses_connections(endpoint: Endpoint) -> None:
    async def scenario() -> None:
        async def worker(first: int) -> None:
            for i in range(first, first + 10):
                answer = await resilient.acall(endpoint.url(i), _payload(i))
                assert answer == {"predictions": [_prediction_of(i)]}

        try:
            await asyncio.gather(*(worker(w * 10) for w in range(4)))
        finally:
            await resilient.aclose()

    run_async(scenario)
    assert len(endpoint.attempts) == 40
    assert len(endpoint.peers()) <= 4


def test_resilient_acall_stops_retrying_once_its_budget_is_spent(endpoint: Endpoint) -> None:
    endpoint.fault_always(DOWN)
    calls = 64

    async def one(i: int) -> None:
        with pytest.raises(aiohttp.ClientResponseError):
            await resilient.acall(endpoint.url(i), _payload(i))

    async def scenario() -> None:
        try:
            await asyncio.gather(*(one(i) for i in range(calls)))
        finally:
            await resilient.aclose()

    run_async(scenario)
    per_call = [len(endpoint.attempts_of(i)) for i in range(calls)]
    assert sum(per_call) <= calls + 20 + 13 + 10 * 4, per_call
    assert per_call.count(1) >= calls // 4, per_call


# --- batched ------------------------------------------------------------------------------


def _at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(i)`` from ``count`` threads released together; each one's answer or error."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(5)
        try:
            return call(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_batched_sends_the_records_of_concurrent_calls_together(endpoint: Endpoint) -> None:
    answers = _at_once(32, lambda i: batched.call(endpoint.url(i), _payload(i)))
    assert answers == [{"predictions": [_prediction_of(i)]} for i in range(32)]
    sizes = [seen.records for seen in endpoint.attempts]
    assert len(sizes) <= 4, sizes
    assert sum(sizes) == 32
    assert max(sizes) <= batched.MAX_RECORDS


def test_batched_splits_multi_record_calls_in_order(endpoint: Endpoint) -> None:
    answers = _at_once(
        6, lambda i: batched.call(endpoint.url(i), _payload(*range(i * 3, i * 3 + 3)))
    )
    for i, answer in enumerate(answers):
        assert answer == {"predictions": [_prediction_of(e) for e in range(i * 3, i * 3 + 3)]}
    assert len(endpoint.attempts) < 6


def test_batched_fails_every_call_of_a_failed_batch(endpoint: Endpoint) -> None:
    endpoint.fault_always(Fault(500))
    answers = _at_once(8, lambda i: batched.call(endpoint.url(i), _payload(i)))
    assert all(isinstance(answer, requests.HTTPError) for answer in answers), answers
    assert len(endpoint.attempts) < 8


# --- cached -------------------------------------------------------------------------------


def test_cached_answers_a_repeated_payload_without_a_request(endpoint: Endpoint) -> None:
    first = cached.call(endpoint.url(0), _payload(7))
    # A new call has a new URL; the payload alone is the key, whatever its keys' order.
    reordered = {"dataframe_records": [{"amount": 7.0, "entity_id": "user-7"}]}
    assert cached.call(endpoint.url(1), reordered) == first
    assert len(endpoint.attempts) == 1
    cached.call(endpoint.url(2), _payload(8))
    assert len(endpoint.attempts) == 2


def test_cached_does_not_keep_failures(endpoint: Endpoint) -> None:
    endpoint.fault_next(1, Fault(400))
    with pytest.raises(requests.HTTPError):
        cached.call(endpoint.url(0), _payload(7))
    assert cached.call(endpoint.url(1), _payload(7)) == {"predictions": [_prediction_of(7)]}
    assert len(endpoint.attempts) == 2


def _prediction_of(entity: int) -> dict[str, Any]:
    return _prediction(_payload(entity)["dataframe_records"][0])
