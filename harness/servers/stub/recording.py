"""Recorded exchanges with a real API, and the file that holds them::

    {"version": 1, "upstream": "https://api.example.com",
     "exchanges": [{"request": {"method": "POST", "path": "/v1/x?y=1", "headers": {...},
                                "body": "..."},
                    "response": {"status": 200, "headers": {...}, "body": "..."},
                    "latency_ms": 41.7}, ...]}

Bodies are UTF-8 text under ``body``, or base64 under ``body_base64`` when they are not UTF-8.
Header names keep their case; a name sent twice is kept once, its values joined by ", ". An
event-stream answer also keeps when each of its events came, in ms after its head, under the
response's ``events_ms`` (one time per event of the body, whatever follows the last one
counted as one more); a replay sends its events at those times.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.servers.httpfaults.events import EventSplitter
from harness.servers.stub import fields as f
from harness.servers.stub.fields import StubSpecError

__all__ = [
    "RECORDING_VERSION",
    "Exchange",
    "RecordedRequest",
    "RecordedResponse",
    "exchange_from_json",
    "exchange_to_json",
    "exchanges_from_json",
    "joined_headers",
    "read_recording",
    "recording_to_json",
    "stream_pieces",
    "write_recording",
]

RECORDING_VERSION = 1
_REQUEST_FIELDS = frozenset({"method", "path", "headers", "body", "body_base64"})
_RESPONSE_FIELDS = frozenset({"status", "headers", "body", "body_base64", "events_ms"})
_EXCHANGE_FIELDS = frozenset({"request", "response", "latency_ms"})

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # with the query string, as it was sent
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    headers: Headers = ()
    body: bytes = b""
    # An event stream's: when each of :func:`stream_pieces` of the body came, in ms after the
    # head; empty when not known (an answer that is not a stream, an older recording).
    events_ms: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One call to the real API, its answer, and how long the API took to give it."""

    request: RecordedRequest
    response: RecordedResponse
    latency_ms: float


def stream_pieces(body: bytes) -> list[bytes]:
    """An event-stream body as a proxy passes it on and a replay sends it back: its events,
    then whatever follows the last one."""
    splitter = EventSplitter()
    pieces = splitter.events(body)
    if rest := splitter.remainder():
        pieces.append(rest)
    return pieces


def joined_headers(pairs: Iterable[tuple[str, str]]) -> Headers:
    """Headers with each name once (first spelling kept), repeated values joined by ", "."""
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in pairs:
        merged.setdefault(name.lower(), (name, []))[1].append(value)
    return tuple((name, ", ".join(values)) for name, values in merged.values())


def exchange_to_json(exchange: Exchange) -> dict[str, Any]:
    request, response = exchange.request, exchange.response
    answer: dict[str, Any] = {
        "status": response.status,
        "headers": dict(response.headers),
        **_body_to_json(response.body),
    }
    if response.events_ms:
        answer["events_ms"] = [round(ms, 3) for ms in response.events_ms]
    return {
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            **_body_to_json(request.body),
        },
        "response": answer,
        "latency_ms": exchange.latency_ms,
    }


def exchange_from_json(value: object, where: str) -> Exchange:
    doc = f.mapping(value, where, "an exchange {request, response, latency_ms}")
    f.known(doc, _EXCHANGE_FIELDS, where)
    for key in ("request", "response"):
        if key not in doc:
            raise StubSpecError(f.at(where, key), f"expected a {key} but the exchange has none")
    here = f.at(where, "request")
    request = f.mapping(doc["request"], here, "a request {method, path, headers, body}")
    f.known(request, _REQUEST_FIELDS, here)
    recorded_request = RecordedRequest(
        method=f.text(request, "method", here, non_empty=True).upper(),
        path=_path(request, here),
        headers=_headers(request, here),
        body=_body(request, here),
    )
    here = f.at(where, "response")
    response = f.mapping(doc["response"], here, "a response {status, headers, body}")
    f.known(response, _RESPONSE_FIELDS, here)
    body = _body(response, here)
    recorded_response = RecordedResponse(
        status=f.integer(response, "status", here, low=100, high=599),
        headers=_headers(response, here),
        body=body,
        events_ms=_events_ms(response, here, body),
    )
    latency = f.number(doc, "latency_ms", where) if "latency_ms" in doc else 0.0
    return Exchange(recorded_request, recorded_response, latency)


def exchanges_from_json(value: object, where: str = "exchanges") -> tuple[Exchange, ...]:
    items = f.sequence(value, where, "a list of exchanges")
    return tuple(exchange_from_json(item, f.at(where, index)) for index, item in enumerate(items))


def recording_to_json(upstream: str, exchanges: Sequence[Exchange]) -> dict[str, Any]:
    """The recording document of ``exchanges`` with ``upstream``."""
    return {
        "version": RECORDING_VERSION,
        "upstream": upstream,
        "exchanges": [exchange_to_json(exchange) for exchange in exchanges],
    }


def read_recording(path: str | Path) -> tuple[Exchange, ...]:
    """The exchanges of the recording file at ``path``; StubSpecError when it cannot be read or
    is not a recording (the error's field is inside the document, its message names the file)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StubSpecError("", f"cannot read recording {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise StubSpecError(
            "", f"expected a recording (JSON) in {path} but it does not parse: {exc}"
        ) from exc
    try:
        recording = f.mapping(doc, "", 'a recording {"version": 1, "exchanges": [...]}')
        version = recording.get("version", RECORDING_VERSION)
        if version != RECORDING_VERSION:
            raise StubSpecError(
                "version",
                f"expected recording version {RECORDING_VERSION} "
                f"but got version={f.found(version)}",
            )
        return exchanges_from_json(recording.get("exchanges"))
    except StubSpecError as exc:
        raise StubSpecError(exc.field, f"{path}: {exc.message}") from exc


def write_recording(path: str | Path, upstream: str, exchanges: Sequence[Exchange]) -> None:
    """Write the recording file ``path`` (its parent folders made as needed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(recording_to_json(upstream, exchanges), indent=1, ensure_ascii=False)
    target.write_text(text + "\n", encoding="utf-8")


def _body_to_json(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}


def _body(doc: Mapping[str, Any], where: str) -> bytes:
    if "body" in doc and "body_base64" in doc:
        raise StubSpecError(
            f.at(where, "body_base64"), "expected either body or body_base64 but got both"
        )
    if "body_base64" in doc:
        encoded = f.text(doc, "body_base64", where)
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise StubSpecError(
                f.at(where, "body_base64"),
                f"expected base64 but got body_base64={f.found(encoded)} ({exc})",
            ) from exc
    if "body" in doc:
        return f.text(doc, "body", where).encode("utf-8")
    return b""


def _events_ms(doc: Mapping[str, Any], where: str, body: bytes) -> tuple[float, ...]:
    if "events_ms" not in doc:
        return ()
    here = f.at(where, "events_ms")
    times = f.sequence(doc["events_ms"], here, "a list of times in ms, one per event")
    found: list[float] = []
    for index, value in enumerate(times):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise StubSpecError(
                f.at(here, index), f"expected a time in ms >= 0 but got {f.found(value)}"
            )
        if found and value < found[-1]:
            raise StubSpecError(
                f.at(here, index),
                f"expected times in order but got {value:g} after {found[-1]:g}",
            )
        found.append(float(value))
    events = len(stream_pieces(body))
    if len(found) != events:
        raise StubSpecError(
            here, f"expected {events} times, one per event of the body, but got {len(found)}"
        )
    return tuple(found)


def _path(doc: Mapping[str, Any], where: str) -> str:
    path = f.text(doc, "path", where)
    if not path.startswith("/"):
        raise StubSpecError(
            f.at(where, "path"), f"expected a path starting with / but got path={f.found(path)}"
        )
    return path


def _headers(doc: Mapping[str, Any], where: str) -> Headers:
    if "headers" not in doc:
        return ()
    here = f.at(where, "headers")
    headers = f.mapping(doc["headers"], here, "an object of header names to values")
    for name, value in headers.items():
        if not isinstance(value, str):
            raise StubSpecError(f.at(here, name), f"expected a string but got {name}={value!r}")
    return tuple(headers.items())
