"""A client under test driven open loop: sync and async callables, outcomes by class and status,
calls beyond max_in_flight dropped, and a callable that hangs bounded by the call timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from harness.loadgen.recorder import Recorder
from harness.loadgen.shapes import Constant
from harness.run.clients import ClientRun, drive_client, outcome_of, payloads_for
from harness.verdict.phases import phase_stats
from tests.cli import Cli


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class StatusError(Exception):
    """Carries an HTTP status the way requests' and httpx's errors do."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = _Response(status)


def _drive(
    function: Any, *, rate: float = 40, duration_s: float = 0.5, timeout_s: float = 2.0,
    max_in_flight: int = 64,
) -> tuple[ClientRun, Recorder, list[str]]:  # fmt: skip
    recorder = Recorder()
    urls: list[str] = []

    def url_for(index: int) -> str:
        url = f"http://127.0.0.1:9/_call/{index}/invocations"
        urls.append(url)
        return url

    async def main() -> ClientRun:
        return await drive_client(
            function,
            Constant(rate, duration_s),
            recorder,
            t0=time.monotonic() + 0.02,
            url_for=url_for,
            payload_for=payloads_for(None, 2, 10),
            max_in_flight=max_in_flight,
            timeout_s=timeout_s,
        )

    return asyncio.run(main()), recorder, urls


def test_a_sync_client_is_called_once_per_arrival_with_its_own_url_and_payload() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def call(url: str, payload: dict[str, Any]) -> object:
        with lock:
            seen.append((url, payload))
        return {"predictions": [0, 0]}

    run, recorder, urls = _drive(call)
    assert run.calls == run.stats.sent == 20
    assert sorted(url for url, _ in seen) == sorted(urls)
    assert all(len(payload["dataframe_records"]) == 2 for _, payload in seen)
    overall = phase_stats(recorder, 0.5)["overall"]
    assert (overall.requests, overall.errors) == (20, 0)
    assert sorted(run.succeeded) == list(range(20))


def test_an_async_client_runs_on_the_event_loop() -> None:
    loops: set[int] = set()

    async def call(url: str, payload: dict[str, Any]) -> object:
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.01)
        return {}

    run, recorder, _ = _drive(call)
    assert run.calls == 20
    assert len(loops) == 1
    assert phase_stats(recorder, 0.5)["overall"].errors == 0


def test_failures_are_recorded_by_status_or_class_with_their_messages() -> None:
    def call(url: str, payload: dict[str, Any]) -> object:
        index = int(url.split("/")[4])
        if index % 2:
            raise StatusError(429)
        raise ConnectionResetError("peer went away")

    run, recorder, _ = _drive(call)
    overall = phase_stats(recorder, 0.5)["overall"]
    assert overall.errors_by_class() == {"429": 10, "ConnectionResetError": 10}
    assert run.messages["ConnectionResetError"] == ["ConnectionResetError: peer went away"]
    assert run.messages["429"] == ["StatusError: HTTP 429"]
    assert outcome_of(ValueError("x")) == (None, "ValueError")


def test_a_hanging_client_is_bounded_by_the_call_timeout_and_the_run_ends_on_time() -> None:
    never = threading.Event()

    def call(url: str, payload: dict[str, Any]) -> object:
        never.wait()
        return None

    started = time.monotonic()
    _, recorder, _ = _drive(call, rate=10, duration_s=0.5, timeout_s=0.3)
    assert time.monotonic() - started < 0.5 + 0.3 + 1.0
    overall = phase_stats(recorder, 0.5)["overall"]
    assert overall.errors_by_class() == {"timeout": 5}
    never.set()


def test_calls_beyond_max_in_flight_are_dropped_not_delayed() -> None:
    release = threading.Event()

    def call(url: str, payload: dict[str, Any]) -> object:
        release.wait(timeout=2)
        return None

    run, recorder, _ = _drive(call, rate=40, duration_s=0.5, max_in_flight=3, timeout_s=0.2)
    release.set()
    # Each call holds its slot until its timeout: 3 at once, the rest of each window dropped.
    assert run.stats.scheduled == 20
    assert run.stats.dropped > 0
    assert run.stats.sent + run.stats.dropped == 20
    assert phase_stats(recorder, 0.5)["overall"].requests == run.stats.sent


def test_a_client_that_cannot_be_called_is_refused_before_anything_starts(
    tmp_path: Path, cli: Cli
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: x\nload: {rate: 1, duration_s: 1}\n")
    (tmp_path / "badclient.py").write_text("def call(url):\n    return None\nVALUE = 3\n")
    for client, says in (
        ("nowhere.at_all:call", "module 'nowhere.at_all' does not import"),
        ("badclient:missing", "has no 'missing'"),
        ("badclient:VALUE", "is not callable (it is int)"),
        ("badclient:call", "expected call(url, payload)"),
        ("resilient.call", "expected module:function"),
    ):
        result = cli("run", str(scenario), "--client", client)
        assert result.code == 2, result.err
        assert says in result.err
        assert "Traceback" not in result.err
