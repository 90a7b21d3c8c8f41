"""What the http1 and native engines do themselves (each its own HTTP/1.1 client): framing and
connection reuse, against raw socket servers on 127.0.0.1 that answer exactly the bytes each
case needs. The native cases skip where the extension is not built."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from harness.loadgen import Constant, Plan, PredictionsPerRecord, Target
from harness.loadgen.histograms import Tally
from harness.loadgen.http1 import reachable_address
from harness.loadgen.pacing import run_paced
from harness.loadgen.recorder import Recorder
from harness.loadgen.stats import GeneratorStats
from tests.engines import engines

pytestmark = pytest.mark.integration

# Serves one connection: the socket and the 1-based number of this connection.
Handler = Callable[[socket.socket, int], None]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture(params=engines("http1", "native"))
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@contextmanager
def raw_server(handle: Handler) -> Iterator[tuple[str, list[int]]]:
    """A threaded TCP server; yields its URL and a list that counts connections."""
    accepted: list[int] = []

    class Connection(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            accepted.append(1)
            self.request.settimeout(5)
            with suppress(OSError):
                handle(self.request, len(accepted))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Connection)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predict", accepted
    finally:
        server.shutdown()
        server.server_close()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            while len(body) < int(value):
                body += sock.recv(65536)
    return head


def _answering(answer: bytes, *, close: bool = False) -> Handler:
    def handle(sock: socket.socket, _: int) -> None:
        while _read_request(sock):
            sock.sendall(answer)
            if close:
                return

    return handle


def _run(
    engine: str, url: str, rate: float, seconds: float, **target: object
) -> tuple[Tally, GeneratorStats]:
    recorder = Recorder()
    plan = Plan(Target(url, **target), Constant(rate, seconds), engine=engine)  # type: ignore[arg-type]
    stats = run_paced(plan, recorder, time.monotonic() + 0.05)
    return recorder.phases["overall"], stats


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", id="content-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\no\r\n1\r\nk\r\n0\r\n\r\n",
            id="chunked",
        ),
    ],
)
def test_framed_answers_keep_their_connection(answer: bytes, engine: str) -> None:
    with raw_server(_answering(answer)) as (url, accepted):
        overall, _ = _run(engine, url, rate=100, seconds=0.5, method="GET")

    assert overall.statuses == {200: 50}
    assert len(accepted) <= 4


def test_an_answer_ended_by_closing_the_connection_is_complete(engine: str) -> None:
    # Sent in two writes: the body is whole only if the engine read on to the close.
    body = b'{"predictions": [1]}'

    def answer_then_close(sock: socket.socket, _: int) -> None:
        _read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body[:5])
        time.sleep(0.01)
        sock.sendall(body[5:])

    with raw_server(answer_then_close) as (url, accepted):
        check = PredictionsPerRecord(1)
        overall, _ = _run(engine, url, rate=50, seconds=0.4, method="GET", validator=check)

    assert overall.statuses == {200: 20}
    assert overall.failures == {}
    assert len(accepted) == 20


def test_a_head_answer_has_no_body_whatever_its_length_says(engine: str) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    with raw_server(_answering(answer)) as (url, accepted):
        overall, _ = _run(engine, url, rate=100, seconds=0.3, method="HEAD", timeout_s=1.0)

    assert overall.statuses == {200: 30}
    assert len(accepted) <= 4


def test_a_request_on_a_connection_the_server_dropped_is_sent_again_once(engine: str) -> None:
    # Each connection answers its first request and is closed by the server when the second
    # arrives, the race an idle timeout on the server makes: every request is still answered.
    def first_only(sock: socket.socket, _: int) -> None:
        _read_request(sock)
        sock.sendall(OK)
        _read_request(sock)

    with raw_server(first_only) as (url, accepted):
        overall, stats = _run(engine, url, rate=50, seconds=0.4, method="GET", max_connections=1)

    assert overall.statuses == {200: 20}
    assert overall.failures == {}
    assert stats.sent == 20
    assert len(accepted) == 20


def test_a_server_that_never_answers_is_a_connection_error_not_an_endless_retry(
    engine: str,
) -> None:
    with raw_server(lambda sock, _: None) as (url, accepted):
        overall, _ = _run(engine, url, rate=50, seconds=0.2, method="GET", max_connections=1)

    assert overall.failures == {"connection": 10}
    # One connection opened ahead of the first request, then one per request: none sent twice.
    assert 10 <= len(accepted) <= 11


def test_an_answer_that_is_not_http_is_a_protocol_error(engine: str) -> None:
    with raw_server(_answering(b"SSH-2.0-OpenSSH_9.2\r\n")) as (url, _):
        overall, _ = _run(engine, url, rate=50, seconds=0.2, method="GET", timeout_s=2.0)

    assert overall.failures == {"protocol": 10}


def test_request_bytes_carry_host_length_and_content_type(engine: str) -> None:
    seen: list[bytes] = []

    def record(sock: socket.socket, _: int) -> None:
        while head := _read_request(sock):
            seen.append(head)
            sock.sendall(OK)

    with raw_server(record) as (url, _):
        _run(engine, url + "?v=1", rate=20, seconds=0.1, method="POST", content_type="text/plain")

    lines = seen[0].split(b"\r\n")
    port = url.split(":")[2].split("/")[0]
    assert lines[0] == b"POST /predict?v=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in lines
    assert b"Content-Length: 0" in lines
    assert not any(line.startswith(b"Content-Type") for line in lines)


def test_the_first_address_that_accepts_is_used_as_a_client_trying_each_would() -> None:
    # As `localhost` may resolve to ::1 first while the server listens on 127.0.0.1 only.
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        found = [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

        assert reachable_address(found) == (socket.AF_INET, ("127.0.0.1", port))
