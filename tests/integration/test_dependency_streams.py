"""Streaming dependencies: a routes stub streams a canned chat answer at its rate; stream faults
on a dependency's hop (the stub's own fault layer) stall, cut, slow, spoil or never end its
streams, scripted or passed through by a proxy stub from a real OpenAI-compatible server, and
each is gone once removed; through a chat server of a team's own that streams from its LLM API
with the OpenAI SDK, a run's stream timings show the dependency's faults in their windows.
Real processes, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.run.runner import run_scenario
from harness.scenario import parse_scenario
from harness.servers.httpfaults.events import EventSplitter, is_done
from harness.system.backends.children import ChildProcess, running
from harness.system.ports import LOOPBACK, free_port
from harness.system.readiness import HttpReady
from harness.verdict.results import RunResult

pytestmark = pytest.mark.integration

openai = pytest.importorskip("openai")

CHAT = "/v1/chat/completions"
ASK = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
# The stub's answer: one chunk per word (the first naming the role), a last chunk, [DONE].
WORDS = "one two three four five six seven eight nine ten eleven twelve"
RATE = 20.0
ROUTES = {
    "kind": "routes",
    "routes": [
        {
            "method": "POST",
            "path": CHAT,
            "response": {
                "stream": {"chat": {"text": WORDS, "model": "{{body.model}}"}, "events_per_s": RATE}
            },
        }
    ],
}
AFTER = 3
STALL_MS = 300
SLOW_PER_S = 10.0
# The stub is local: an HTTP_PROXY meant for the outside world must not see it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Read:
    """One streamed answer as its client saw it: each event with the time it arrived
    (milliseconds from the request), and how the answer ended."""

    events: tuple[bytes, ...]
    times_ms: tuple[float, ...]
    ended: str  # "whole", "cut" (the body stopped short) or "timeout"

    @property
    def gaps_ms(self) -> list[float]:
        """Gaps between the events before [DONE] (which follows the last chunk at once)."""
        times = [t for t, e in zip(self.times_ms, self.events, strict=True) if not is_done(e)]
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def done(self) -> bool:
        return any(is_done(event) for event in self.events)


async def _read(url: str, payload: dict[str, Any], timeout_s: float = 2.0) -> Read:
    events: list[bytes] = []
    times: list[float] = []
    splitter = EventSplitter()
    ended = "whole"
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.post(url + CHAT, json=payload) as answer:
                assert answer.status == 200, await answer.text()
                async for data in answer.content.iter_any():
                    now = (time.monotonic() - started) * 1000.0
                    for event in splitter.events(data):
                        events.append(event)
                        times.append(now)
        except aiohttp.ClientPayloadError:
            ended = "cut"
        except TimeoutError:
            ended = "timeout"
    return Read(tuple(events), tuple(times), ended)


def read(url: str, payload: dict[str, Any] = ASK, timeout_s: float = 2.0) -> Read:
    return asyncio.run(asyncio.wait_for(_read(url, payload, timeout_s), timeout_s + 5))


def _control(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with _DIRECT.open(request, timeout=5) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


@contextmanager
def fault(url: str, **attributes: Any) -> Iterator[None]:
    """A stream fault on the stub at ``url`` for the block, removed however the block ends."""
    _control(url, "PUT", "/_chaos/faults/stream", {"faults": [{"kind": "stream", **attributes}]})
    try:
        yield
    finally:
        _control(url, "DELETE", "/_chaos/faults/stream")


@contextmanager
def stub(log_dir: Path, name: str) -> Iterator[str]:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "harness.cli", "stub", "--host", LOOPBACK, "--port", str(port)]
    with running(ChildProcess(name, argv), HttpReady(f"{url}/health", timeout_s=20), log_dir):
        yield url


def _whole(found: Read, events: int) -> None:
    assert found.ended == "whole", found
    assert found.done
    assert len(found.events) == events, found.events
    assert not any(event.startswith(b"data: !") for event in found.events)


def check_each_stream_fault(
    url: str, events: int, every_ms: float, ask: dict[str, Any] = ASK
) -> dict[str, Any]:
    """Every stream fault on the stub at ``url`` (whose answer to ``ask`` is ``events``
    events, [DONE] included, ``every_ms`` apart), each seen on the next answer and gone once
    removed; what was observed, for the report."""
    seen: dict[str, Any] = {}
    with fault(url, action="stall", after_events=AFTER, stall_ms=STALL_MS):
        stalled = read(url, ask)
    _whole(stalled, events)
    # The answer waits once, after the 3rd event, then carries on.
    seen["stall_gap_ms"] = stalled.gaps_ms[AFTER - 1]
    assert stalled.gaps_ms[AFTER - 1] >= STALL_MS, stalled.gaps_ms
    assert max(stalled.gaps_ms[: AFTER - 1]) < STALL_MS / 2, stalled.gaps_ms

    with fault(url, action="cut", after_events=AFTER):
        cut = read(url, ask)
    assert (cut.ended, len(cut.events)) == ("cut", AFTER), cut

    with fault(url, action="slow", after_events=AFTER, events_per_s=SLOW_PER_S):
        slowed = read(url, ask)
    _whole(slowed, events)
    after = slowed.gaps_ms[AFTER - 1 :]
    seen["slow_gaps_ms"] = (min(after), statistics.median(after))
    assert min(after) >= 1000 / SLOW_PER_S * 0.9, after
    assert statistics.median(after) == pytest.approx(1000 / SLOW_PER_S, rel=0.1)

    with fault(url, action="malformed", after_events=AFTER):
        spoilt = read(url, ask)
    assert spoilt.ended == "whole"
    assert [i for i, e in enumerate(spoilt.events) if e.startswith(b"data: !")] == [AFTER]

    with fault(url, action="no_done"):
        hung = read(url, ask, timeout_s=events * every_ms / 1000 + 0.5)
    assert (hung.ended, hung.done, len(hung.events)) == ("timeout", False, events - 1), hung

    # Removed: the answer is whole again, at its own pace.
    after_all = read(url, ask)
    _whole(after_all, events)
    seen["recovered_max_gap_ms"] = max(after_all.gaps_ms)
    assert max(after_all.gaps_ms) < every_ms * 2, after_all.gaps_ms
    return seen


def test_a_routes_stub_streams_at_its_rate_and_each_stream_fault_breaks_it_until_removed(
    tmp_path: Path,
) -> None:
    with stub(tmp_path, "llm-stub") as url:
        _control(url, "PUT", "/_chaos/spec", ROUTES)
        found = read(url)
        # 12 word chunks, the last chunk (finish reason, usage) and [DONE].
        n_events = len(WORDS.split()) + 2
        _whole(found, n_events)
        every_ms = 1000 / RATE
        gaps = found.gaps_ms
        assert len(gaps) == n_events - 2
        # Gaps within 10 % of 50 ms; one event read late on a busy machine makes its gap long
        # and the next one short (the stub keeps its schedule), so that pair is let off.
        off = [g for g in gaps if g != pytest.approx(every_ms, rel=0.1)]
        assert len(off) <= 2, gaps
        assert statistics.median(gaps) == pytest.approx(every_ms, rel=0.05), gaps
        span = found.times_ms[-2] - found.times_ms[0]
        assert span == pytest.approx(every_ms * len(gaps), rel=0.05), gaps
        first = json.loads(found.events[0].removeprefix(b"data: "))
        assert first["object"] == "chat.completion.chunk"
        assert first["model"] == "m"
        assert first["choices"][0]["delta"] == {"role": "assistant", "content": "one"}
        check_each_stream_fault(url, n_events, every_ms)


def test_a_proxy_stub_breaks_a_real_servers_stream_and_passes_other_answers_untouched(
    tmp_path: Path,
) -> None:
    # The "real" API: the reference endpoint's OpenAI-compatible mode, 8 tokens at 50/s.
    port = free_port()
    api = f"http://{LOOPBACK}:{port}"
    argv = [
        *(sys.executable, "-m", "harness.cli", "endpoint", "--host", LOOPBACK),
        *("--port", str(port), "--llm", "--decode-tokens-per-s", "50"),
    ]
    ask = {**ASK, "max_tokens": 8}
    with (
        running(ChildProcess("llm-api", argv), HttpReady(f"{api}/health", timeout_s=20), tmp_path),
        stub(tmp_path, "llm-proxy") as url,
    ):
        _control(url, "PUT", "/_chaos/spec", {"kind": "proxy", "upstream": api, "record": True})
        found = read(url, ask)
        # 8 token chunks, the last chunk and [DONE].
        _whole(found, 10)
        with fault(url, action="cut", after_events=0):
            whole = _post_json(url + CHAT, {**ask, "stream": False})
        assert whole["choices"][0]["finish_reason"] in ("stop", "length")
        check_each_stream_fault(url, 10, 20.0, ask)
        recording = _control(url, "GET", "/_chaos/recording")

    # Only streams that arrived whole were kept; replayed, a recorded stream breaks the same way.
    streamed = [
        e
        for e in recording["exchanges"]
        if "event-stream" in e["response"]["headers"]["Content-Type"]
    ]
    assert len(streamed) == 5  # before, stalled, slowed, spoilt (it still ended) and after
    # Each event kept with when it came: the endpoint's 20 ms per token.
    came = streamed[0]["response"]["events_ms"]
    assert len(came) == 10
    recorded_gap = statistics.median(b - a for a, b in itertools.pairwise(came[:-1]))
    assert recorded_gap == pytest.approx(20, rel=0.15)
    with stub(tmp_path, "llm-replay") as url:
        _control(url, "PUT", "/_chaos/spec", {"kind": "replay", "exchanges": streamed[:1]})
        replayed = read(url, ask)
        _whole(replayed, 10)
        # Sent again at the pace it came, not all at once.
        assert statistics.median(replayed.gaps_ms) == pytest.approx(recorded_gap, rel=0.15)
        with fault(url, action="cut", after_events=AFTER):
            cut = read(url, ask)
        assert (cut.ended, len(cut.events)) == ("cut", AFTER)
        _whole(read(url, ask), 10)


def _post_json(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with _DIRECT.open(request, timeout=5) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        return json.loads(answer.read())


# --- through a server of one's own ---------------------------------------------------------

RELAY = Path(__file__).with_name("chat_relay.py")
STREAM_ROUTE = f"""\
name: dependency-stream-faults
target:
  command: ["{{python}}", "{RELAY}"]
  invocations_path: {CHAT}
dependencies:
  llm-api:
    kind: routes
    env: LLM_API_URL
    routes:
      - method: POST
        path: {CHAT}
        response:
          stream: {{chat: {{text: "{WORDS}"}}, events_per_s: 40}}
load:
  rate: 10
  duration_s: %s
  timeout_s: 1.5
  stream: true
  body: '{json.dumps(ASK)}'
faults:
"""
PIPELINE_STALL_MS = 400


def _value(result: RunResult, phase: str, metric: str) -> float:
    found = result.phases[phase].value(metric)
    assert found is not None, (phase, metric)
    return found


def _reverted(result: RunResult, *, itl_ms: float) -> None:
    """Before the first window and after the last, streams end whole at the dependency's pace.
    (The stub switches a fault as each call arrives, phases go by intended start: the one call
    at a window's edge may fall either side, so one stream there is let off.)"""
    for phase in ("baseline", "recovery"):
        assert result.phases[phase].requests >= 5, phase
        assert result.phases[phase].errors <= 1, phase
        assert _value(result, phase, "cut_streams") <= 1, phase
        assert _value(result, phase, "itl_p90_ms") < itl_ms, phase


def test_a_stall_and_a_cut_on_the_dependency_reach_the_users_of_a_server_streaming_from_it() -> (
    None
):
    scenario = (STREAM_ROUTE % 6) + (
        "  - {name: stall, type: stream, target: llm-api, start_s: 1, duration_s: 1.5,\n"
        f"     attributes: {{action: stall, after_events: 3, stall_ms: {PIPELINE_STALL_MS}}}}}\n"
        "  - {name: cut, type: stream, target: llm-api, start_s: 3.5, duration_s: 1.5,\n"
        "     attributes: {action: cut, after_events: 3}}\n"
    )
    result = run_scenario(parse_scenario(scenario), backend="process")
    stall, cut = result.phases["during:stall"], result.phases["during:cut"]
    # The stall holds every stream the server relays once, for the stall's length; none fails.
    assert stall.requests > 0
    assert stall.errors == 0
    assert _value(result, "during:stall", "itl_p99_ms") >= PIPELINE_STALL_MS
    # The cut: the SDK's stream breaks after 3 events and the server cuts its own.
    assert cut.requests > 0
    assert _value(result, "during:cut", "cut_streams") >= cut.requests - 1
    assert cut.errors >= cut.requests - 1
    assert result.dependencies["llm-api"]["faults_injected"]["stream"] >= (
        stall.requests + cut.requests - 2
    )
    _reverted(result, itl_ms=PIPELINE_STALL_MS / 8)


def test_a_slowed_spoilt_or_endless_dependency_stream_shows_to_the_servers_users() -> None:
    scenario = (STREAM_ROUTE % 6) + (
        "  - {name: slow, type: stream, target: llm-api, start_s: 1, duration_s: 1.2,\n"
        "     attributes: {action: slow, after_events: 3, events_per_s: 10}}\n"
        "  - {name: spoilt, type: stream, target: llm-api, start_s: 2.6, duration_s: 1.2,\n"
        "     attributes: {action: malformed, after_events: 3}}\n"
        "  - {name: hang, type: stream, target: llm-api, start_s: 4.2, duration_s: 1,\n"
        "     attributes: {action: no_done}}\n"
    )
    result = run_scenario(parse_scenario(scenario), backend="process")
    slow, spoilt, hang = (result.phases[f"during:{name}"] for name in ("slow", "spoilt", "hang"))
    # Slowed to 10 events/s after the 3rd: most of the relayed stream's gaps are 100 ms.
    assert slow.requests > 0
    assert slow.errors == 0
    assert _value(result, "during:slow", "itl_p50_ms") == pytest.approx(100, rel=0.1)
    # A spoilt event does not parse in the SDK: the server cuts the stream it was relaying.
    assert spoilt.requests > 0
    assert _value(result, "during:spoilt", "cut_streams") >= spoilt.requests - 1
    # No [DONE]: the SDK waits for it, and so does the server's caller, until its timeout.
    assert hang.requests > 0
    assert hang.tally.failures.get("timeout", 0) >= hang.requests - 1
    _reverted(result, itl_ms=40)
