"""The bytes the fault layer writes itself: answers made up in place of the upstream's, the
502 for an upstream it cannot reach, and the broken answers that end a connection."""

from __future__ import annotations

import json
import random
from http import HTTPStatus

from harness.servers.httpfaults import Answer

__all__ = [
    "answer_bytes",
    "garbage",
    "head_keeps_alive",
    "head_length",
    "truncated",
    "upstream_failed",
]

# A truncated answer promises this many bytes and sends the start of a JSON body only.
_PROMISED = 1024
_CUT_JSON = b'{"predictions": [[0.12, 0.53, 0.'
_GARBAGE_BYTES = 256


def answer_bytes(answer: Answer, *, head: bool, keep: bool) -> tuple[bytes, int]:
    """``answer`` as HTTP/1.1, and the length of its head. An answer to HEAD has no body but
    says the length the body would have."""
    lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}"]
    lines += [
        f"{name}: {value}" for name, value in answer.headers if name.lower() != "content-length"
    ]
    lines.append(f"Content-Length: {len(answer.body)}")
    if not keep:
        lines.append("Connection: close")
    start = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return (start if head else start + answer.body), len(start)


def upstream_failed(upstream: str, cause: str) -> bytes:
    """A 502 that says the upstream could not be reached; the connection closes after it."""
    body = json.dumps(
        {"error": f"the upstream {upstream} could not be reached", "cause": cause}
    ).encode()
    answer = Answer(502, (("Content-Type", "application/json"),), body)
    return answer_bytes(answer, head=False, keep=False)[0]


def truncated() -> bytes:
    """A 200 whose body stops well short of its Content-Length."""
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        _PROMISED,
        _CUT_JSON,
    )


def garbage(dice: random.Random) -> bytes:
    """Bytes that are not HTTP: never starting with ``H``, so no client mistakes them for a
    status line."""
    data = bytearray(dice.randbytes(_GARBAGE_BYTES))
    if data[0] == ord("H"):
        data[0] = 0
    return bytes(data)


def head_length(payload: bytes) -> int:
    """Where the head of the final answer in ``payload`` ends: after any interim (1xx)
    answers; 0 when no head end is found."""
    return _final_head(payload)[1]


def head_keeps_alive(payload: bytes) -> bool:
    """Whether the final answer's head in ``payload`` leaves the connection open. Asked for
    answers to HEAD only: llhttp, not knowing the request, takes a HEAD answer without a
    length for one whose body runs until the connection closes."""
    start, end = _final_head(payload)
    lines = payload[start:end].split(b"\r\n")
    tokens: set[bytes] = set()
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    if b"close" in tokens:
        return False
    return lines[0].startswith(b"HTTP/1.1") or b"keep-alive" in tokens


def _final_head(payload: bytes) -> tuple[int, int]:
    start = 0
    while True:
        end = payload.find(b"\r\n\r\n", start)
        if end < 0:
            return start, 0
        end += 4
        # "HTTP/1.1 1xx": an interim answer, its head is followed by the real one.
        if payload[start + 9 : start + 10] != b"1":
            return start, end
        start = end


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
