"""Control-plane calls (Toxiproxy's API, a stub's fault switch, the docker engine) fail as a
TopologyError that says what was being done, against what, and why; all traffic on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import docker.errors
import pytest
import requests
import requests.models

import faults.http
from faults.container import Crash, Pause, ResourceLimit, Stop
from faults.http import Abort, HttpError
from harness.errors import TopologyError
from harness.system.toxiproxy import ToxiproxyClient

LOOPBACK = "127.0.0.1"
PROXY_JSON = {
    "name": "store",
    "listen": "127.0.0.1:40123",
    "upstream": "127.0.0.1:9",
    "enabled": True,
}


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    body: bytes


@dataclass
class FakeApi:
    """A real HTTP server on 127.0.0.1 answering each (method, path) as scripted."""

    url: str
    answers: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    default: tuple[int, bytes] = (404, b'{"error": "not scripted"}')
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def answer(self, method: str, path: str, status: int, body: object) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[(method, path)] = (status, raw)


def _handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            api.seen.append(Seen(self.command, self.path, self.rfile.read(length)))
            status, body = api.answers.get((self.command, self.path), api.default)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi(url="")
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(fake))
    fake.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound to learn a free number, then released."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections complete (kernel backlog) but never get an answer."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def dead_http_proxy(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HTTP_PROXY points at a closed port, so a call that honoured it would be refused."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://{LOOPBACK}:{closed_port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # urllib's default opener reads the environment once; drop it on both sides of the test
    # (this teardown runs before monkeypatch restores the environment).
    urllib.request.install_opener(None)
    yield
    urllib.request.install_opener(None)


# Every ToxiproxyClient call, with the action its error names.
CLIENT_CALLS: list[tuple[str, Callable[[ToxiproxyClient], object]]] = [
    ("create proxy 'store'", lambda c: c.create_proxy("store", "127.0.0.1:9")),
    ("read proxy 'store'", lambda c: c.proxy("store")),
    (
        "add toxic 'lag' to proxy 'store'",
        lambda c: c.add_toxic("store", name="lag", type="latency", attributes={"latency": 10}),
    ),
    ("remove toxic 'lag' from proxy 'store'", lambda c: c.remove_toxic("store", "lag")),
    ("list the toxics of proxy 'store'", lambda c: c.toxics("store")),
    ("disable proxy 'store'", lambda c: c.set_enabled("store", False)),
    ("enable proxy 'store'", lambda c: c.set_enabled("store", True)),
    ("reset every proxy", lambda c: c.reset()),
]
CALL_IDS = [action for action, _ in CLIENT_CALLS]


@pytest.mark.parametrize(("action", "call"), CLIENT_CALLS, ids=CALL_IDS)
def test_toxiproxy_refused_names_server_action_and_cause(
    closed_port: int, action: str, call: Callable[[ToxiproxyClient], object]
) -> None:
    client = ToxiproxyClient(LOOPBACK, closed_port, timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(TopologyError) as caught:
        call(client)
    assert time.monotonic() - started < 2.0
    assert str(caught.value).startswith(
        f"toxiproxy at http://127.0.0.1:{closed_port}: could not {action} "
        "(caused by ConnectionRefusedError: "
    )


@pytest.mark.parametrize(("action", "call"), CLIENT_CALLS, ids=CALL_IDS)
def test_toxiproxy_silence_times_out_as_topology_error(
    silent_port: int, action: str, call: Callable[[ToxiproxyClient], object]
) -> None:
    client = ToxiproxyClient(LOOPBACK, silent_port, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(TopologyError) as caught:
        call(client)
    assert 0.25 <= time.monotonic() - started < 3.0
    assert str(caught.value) == (
        f"toxiproxy at http://127.0.0.1:{silent_port}: could not {action} "
        "(caused by no answer within 0.3s)"
    )


@pytest.mark.parametrize(("action", "call"), CLIENT_CALLS, ids=CALL_IDS)
def test_toxiproxy_server_error_is_reported_with_its_status(
    api: FakeApi, action: str, call: Callable[[ToxiproxyClient], object]
) -> None:
    api.default = (500, b"")
    with pytest.raises(TopologyError) as caught:
        call(ToxiproxyClient(LOOPBACK, api.port))
    assert str(caught.value) == (
        f"toxiproxy at {api.url}: could not {action} (caused by HTTP 500: Internal Server Error)"
    )


def test_toxiproxy_version_is_none_while_nothing_listens(closed_port: int) -> None:
    assert ToxiproxyClient(LOOPBACK, closed_port, timeout_s=1.0).version() is None


def test_toxiproxy_version_is_none_while_the_server_stays_silent(silent_port: int) -> None:
    started = time.monotonic()
    assert ToxiproxyClient(LOOPBACK, silent_port, timeout_s=0.3).version() is None
    assert time.monotonic() - started < 3.0


def test_toxiproxy_version_reads_the_json_answer(api: FakeApi) -> None:
    api.answer("GET", "/version", 200, {"version": "2.12.0"})
    assert ToxiproxyClient(LOOPBACK, api.port).version() == "2.12.0"


def test_toxiproxy_version_from_something_else_is_an_error_not_silence(api: FakeApi) -> None:
    api.answer("GET", "/version", 404, b"404 page not found")
    with pytest.raises(TopologyError, match=r"could not read the version \(caused by HTTP 404"):
        ToxiproxyClient(LOOPBACK, api.port).version()


def test_toxiproxy_garbage_json_is_an_unexpected_answer(api: FakeApi) -> None:
    api.answer("GET", "/proxies/store", 200, b"<html>not json</html>")
    with pytest.raises(TopologyError) as caught:
        ToxiproxyClient(LOOPBACK, api.port).proxy("store")
    assert str(caught.value) == (
        f"toxiproxy at {api.url}: could not read proxy 'store' "
        "(caused by unexpected answer: expected JSON but got b'<html>not json</html>')"
    )


@pytest.mark.parametrize(
    "body",
    [
        [PROXY_JSON],
        {"name": "store"},
        {**PROXY_JSON, "enabled": "yes"},
        {**PROXY_JSON, "listen": "x"},
    ],
    ids=["list", "missing-fields", "wrong-type", "no-port"],
)
def test_toxiproxy_proxy_of_the_wrong_shape_is_an_unexpected_answer(
    api: FakeApi, body: object
) -> None:
    api.answer("POST", "/proxies", 201, body)
    with pytest.raises(
        TopologyError, match=r"could not create proxy 'store' \(caused by unexpected"
    ):
        ToxiproxyClient(LOOPBACK, api.port).create_proxy("store", "127.0.0.1:9")


def test_toxiproxy_toxic_list_of_the_wrong_shape_is_an_unexpected_answer(api: FakeApi) -> None:
    api.answer("GET", "/proxies/store/toxics", 200, {"lag": {}})
    with pytest.raises(TopologyError, match=r"toxics of proxy 'store' \(caused by unexpected"):
        ToxiproxyClient(LOOPBACK, api.port).toxics("store")


def test_toxiproxy_create_proxy_sends_the_spec_and_reads_the_real_port(api: FakeApi) -> None:
    api.answer("POST", "/proxies", 201, {**PROXY_JSON, "toxics": []})
    info = ToxiproxyClient(LOOPBACK, api.port).create_proxy("store", "127.0.0.1:9")
    assert (info.name, info.port, info.enabled) == ("store", 40123, True)
    sent = json.loads(api.seen[0].body)
    assert sent == {
        "name": "store",
        "listen": "127.0.0.1:0",
        "upstream": "127.0.0.1:9",
        "enabled": True,
    }


def test_toxiproxy_refusal_carries_toxiproxys_reason(api: FakeApi) -> None:
    api.answer("POST", "/proxies", 409, {"error": "proxy already exists", "status": 409})
    with pytest.raises(TopologyError) as caught:
        ToxiproxyClient(LOOPBACK, api.port).create_proxy("store", "127.0.0.1:9")
    assert str(caught.value) == (
        f"toxiproxy at {api.url}: could not create proxy 'store' "
        "(caused by HTTP 409: proxy already exists)"
    )


def test_toxiproxy_removing_a_missing_toxic_is_a_no_op(api: FakeApi) -> None:
    api.answer("DELETE", "/proxies/store/toxics/lag", 404, {"error": "toxic not found"})
    ToxiproxyClient(LOOPBACK, api.port).remove_toxic("store", "lag")
    assert [(s.method, s.path) for s in api.seen] == [("DELETE", "/proxies/store/toxics/lag")]


def test_toxiproxy_removing_a_toxic_from_a_missing_proxy_fails(api: FakeApi) -> None:
    api.answer("DELETE", "/proxies/store/toxics/lag", 404, {"error": "proxy not found"})
    with pytest.raises(TopologyError, match=r"\(caused by HTTP 404: proxy not found\)"):
        ToxiproxyClient(LOOPBACK, api.port).remove_toxic("store", "lag")


@pytest.mark.usefixtures("dead_http_proxy")
def test_toxiproxy_ignores_an_http_proxy_from_the_environment(api: FakeApi) -> None:
    api.answer("GET", "/version", 200, {"version": "2.12.0"})
    assert ToxiproxyClient(LOOPBACK, api.port).version() == "2.12.0"


@dataclass(frozen=True, slots=True)
class Stubs:
    urls: dict[str, str]

    def fault_control_url(self, target: str) -> str:
        return self.urls[target]


RATE_LIMIT = HttpError("feature-store", (Abort(status=429, percentage=50),))


def test_stub_fault_against_a_closed_port_names_stub_url_and_cause(closed_port: int) -> None:
    url = f"http://{LOOPBACK}:{closed_port}"
    started = time.monotonic()
    with pytest.raises(TopologyError) as caught:
        RATE_LIMIT.apply(Stubs({"feature-store": url}), "limit")
    assert time.monotonic() - started < faults.http.CONTROL_TIMEOUT_S
    assert str(caught.value).startswith(
        f"HTTP hop 'feature-store' at {url}/_chaos/faults/limit: could not switch on an HTTP fault "
        "(caused by ConnectionRefusedError: "
    )


def test_stub_fault_silence_times_out(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults.http, "CONTROL_TIMEOUT_S", 0.3)
    url = f"http://{LOOPBACK}:{silent_port}"
    started = time.monotonic()
    with pytest.raises(TopologyError) as caught:
        RATE_LIMIT.revert(Stubs({"feature-store": url}), "limit")
    assert time.monotonic() - started < 3.0
    assert str(caught.value) == (
        f"HTTP hop 'feature-store' at {url}/_chaos/faults/limit: could not switch off HTTP faults "
        "(caused by no answer within 0.3s)"
    )


def test_stub_fault_refusal_carries_the_stubs_reason(api: FakeApi) -> None:
    reason = {"error": "expected status in 400..599 but got status=2"}
    api.answer("PUT", "/_chaos/faults/limit", 400, reason)
    with pytest.raises(TopologyError) as caught:
        RATE_LIMIT.apply(Stubs({"feature-store": api.url}), "limit")
    assert str(caught.value) == (
        f"HTTP hop 'feature-store' at {api.url}/_chaos/faults/limit: could not switch on an HTTP "
        "fault (caused by HTTP 400: expected status in 400..599 but got status=2)"
    )


def test_stub_fault_server_error_without_a_reason_gives_the_status(api: FakeApi) -> None:
    api.answer("DELETE", "/_chaos/faults/limit", 500, b"")
    with pytest.raises(TopologyError, match=r"switch off .* \(caused by HTTP 500: Internal Server"):
        RATE_LIMIT.revert(Stubs({"feature-store": api.url}), "limit")


@pytest.mark.usefixtures("dead_http_proxy")
def test_stub_fault_reaches_the_stub_despite_an_http_proxy_setting(api: FakeApi) -> None:
    api.answer("PUT", "/_chaos/faults/limit", 200, {"faults": {}})
    RATE_LIMIT.apply(Stubs({"feature-store": api.url}), "limit")
    assert [(s.method, s.path) for s in api.seen] == [("PUT", "/_chaos/faults/limit")]
    assert json.loads(api.seen[0].body)["faults"][0]["status"] == 429


@dataclass
class FlakyContainer:
    """A docker container stand-in whose verbs named in ``failing`` raise ``error``."""

    error: BaseException
    failing: frozenset[str]
    status: str = "exited"
    host: dict[str, int] = field(default_factory=lambda: {"CpuQuota": 0, "Memory": 0})

    @property
    def attrs(self) -> dict[str, Any]:
        if "attrs" in self.failing:
            raise self.error
        return {"HostConfig": dict(self.host)}

    def __getattr__(self, verb: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            if verb in self.failing:
                raise self.error

        return call


@dataclass(frozen=True, slots=True)
class Containers:
    container_for: dict[str, Any]

    def container(self, service: str) -> Any:
        return self.container_for[service]


def _api_error() -> BaseException:
    response = requests.models.Response()
    response.status_code = 409
    response.url = "http+docker://localhost/v1.47/containers/abc/pause"
    response.reason = "Conflict"
    error: BaseException = docker.errors.APIError(
        "x", response=response, explanation="abc is not running"
    )
    return error


ALL_VERBS = frozenset({"pause", "unpause", "kill", "reload", "start", "stop", "update", "attrs"})
SQUEEZE = ResourceLimit("endpoint", cpus=0.5)
# Each container fault step, and the action its error names.
CONTAINER_STEPS: list[tuple[str, Callable[[Containers], None]]] = [
    ("pause it", lambda c: Pause("endpoint").apply(c, "f")),
    ("unpause it", lambda c: Pause("endpoint").revert(c, "f")),
    ("kill it with SIGKILL", lambda c: Crash("endpoint").apply(c, "f")),
    ("restart it", lambda c: Crash("endpoint").revert(c, "f")),
    ("stop it", lambda c: Stop("endpoint").apply(c, "f")),
    ("start it again", lambda c: Stop("endpoint").revert(c, "f")),
    ("read its limits", lambda c: SQUEEZE.apply(c, "f")),
]


@pytest.mark.parametrize(("action", "step"), CONTAINER_STEPS, ids=[a for a, _ in CONTAINER_STEPS])
def test_container_fault_wraps_a_docker_api_error(
    action: str, step: Callable[[Containers], None]
) -> None:
    control = Containers({"endpoint": FlakyContainer(_api_error(), ALL_VERBS)})
    with pytest.raises(TopologyError) as caught:
        step(control)
    assert str(caught.value) == (
        f"fault 'f' on service 'endpoint': could not {action} (caused by APIError: 409 Client "
        'Error for http+docker://localhost/v1.47/containers/abc/pause: Conflict ("abc is not '
        'running"))'
    )
    assert isinstance(caught.value.__cause__, docker.errors.APIError)


def test_container_fault_wraps_an_engine_timeout() -> None:
    timeout = requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)")
    control = Containers({"db": FlakyContainer(timeout, frozenset({"stop"}))})
    with pytest.raises(TopologyError) as caught:
        Stop("db").apply(control, "halt")
    assert str(caught.value) == (
        "fault 'halt' on service 'db': could not stop it "
        "(caused by ReadTimeout: Read timed out. (read timeout=10))"
    )


def test_resource_limit_names_the_update_that_failed_and_the_restore() -> None:
    engine = FlakyContainer(_api_error(), frozenset())
    control = Containers({"endpoint": engine})
    engine.failing = frozenset({"update"})
    with pytest.raises(TopologyError, match=r"could not set its limits \(endpoint limited to cpus"):
        SQUEEZE.apply(control, "squeeze")
    engine.failing = frozenset()
    SQUEEZE.apply(control, "squeeze")
    engine.failing = frozenset({"update"})
    with pytest.raises(TopologyError, match=r"could not restore its limits \(caused by APIError"):
        SQUEEZE.revert(control, "squeeze")


def test_resource_limit_without_host_config_is_a_topology_error() -> None:
    class Bare:
        @property
        def attrs(self) -> dict[str, Any]:
            return {}

        def reload(self) -> None:
            pass

    with pytest.raises(TopologyError, match=r"could not read its limits \(caused by no HostConfig"):
        SQUEEZE.apply(Containers({"endpoint": Bare()}), "squeeze")


def test_container_fault_lets_a_topology_error_through_unchanged() -> None:
    own = TopologyError("CPU and memory limits need the docker backend (--backend docker)")
    control = Containers({"endpoint": FlakyContainer(own, ALL_VERBS)})
    for _, step in CONTAINER_STEPS:
        with pytest.raises(TopologyError) as caught:
            step(control)
        assert caught.value is own
