"""Which recorded exchange answers a call when a stub replays a recording.

A call is matched on its method, its path with the query (parameters in any order) and its body
(JSON compared by value, anything else byte for byte). When no recorded body matches, the method
and path alone choose. Among several recorded answers to the same call, successive calls take
them in recorded order and start over after the last, so a recording of a flaky API (a 200, a
503, a 200) replays its flakiness.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode

from harness.servers.stub.recording import Exchange

__all__ = ["Replayer", "call_key"]

_Key = tuple[str, str]


def call_key(method: str, target: str) -> _Key:
    """``(METHOD, path?sorted query)``: what a call and its recording are compared on."""
    path, _, query = target.partition("?")
    if query:
        path = f"{path}?{urlencode(sorted(parse_qsl(query, keep_blank_values=True)))}"
    return method.upper(), path


def _body_key(body: bytes) -> bytes:
    try:
        decoded = json.loads(body)
    except ValueError:
        return body
    return json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()


class Replayer:
    """The recorded exchanges, indexed; answering a call moves that call's turn on, so a
    Replayer changes as it answers."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self._exact: dict[tuple[_Key, bytes], list[Exchange]] = {}
        self._loose: dict[_Key, list[Exchange]] = {}
        for exchange in exchanges:
            request = exchange.request
            key = call_key(request.method, request.path)
            self._exact.setdefault((key, _body_key(request.body)), []).append(exchange)
            self._loose.setdefault(key, []).append(exchange)
        self._turns: dict[object, int] = {}

    def answer(self, method: str, target: str, body: bytes) -> Exchange | None:
        """The exchange that answers this call, or None when nothing recorded matches."""
        key = call_key(method, target)
        exact = (key, _body_key(body))
        if exact in self._exact:
            return self._take(exact, self._exact[exact])
        if key in self._loose:
            return self._take(key, self._loose[key])
        return None

    def recorded(self) -> list[str]:
        """``METHOD path`` of every recorded call, once each, in recorded order."""
        return [f"{method} {path}" for method, path in self._loose]

    def _take(self, key: object, choices: list[Exchange]) -> Exchange:
        turn = self._turns.get(key, 0)
        self._turns[key] = turn + 1
        return choices[turn % len(choices)]
