"""How each kind of stub answers an API call: it first finds what the call matches (the route
that labels it in the metrics), and only then, unless a fault answers in its place, makes the
answer. A streamed answer (a route's ``stream``, a recorded event stream) is an ``EventStream``,
sent event by event so that stream faults can break it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from harness.servers.httpfaults.aiohttp_layer import Respond
from harness.servers.httpfaults.event_stream import EventStream
from harness.servers.httpfaults.events import is_event_stream
from harness.servers.stub.features import features_for
from harness.servers.stub.recording import Exchange, RecordedResponse, stream_pieces
from harness.servers.stub.replay import Replayer
from harness.servers.stub.route_stream import paced
from harness.servers.stub.routes import Call, Route, first_match
from harness.servers.stub.spec import FeaturesSpec, ReplaySpec, RoutesSpec
from harness.servers.stub.template import CallValues

__all__ = [
    "UNMATCHED",
    "FeaturesServed",
    "Match",
    "ReplayServed",
    "RoutesServed",
    "Served",
    "unmatched",
]

# The route label of a call nothing matched.
UNMATCHED = "unmatched"
# Headers of a recorded answer that described its connection, not the answer.
_NOT_REPLAYED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True, slots=True)
class Match:
    """What a call matched: ``route`` labels it in the metrics, ``respond`` answers it."""

    route: str
    respond: Respond
    unmatched: bool = False


class Served(Protocol):
    """One kind of stub answering calls."""

    async def match(self, request: web.Request) -> Match: ...

    async def close(self) -> None: ...


def unmatched(request: web.Request, listing: str, known: Sequence[str]) -> Match:
    """A 404 saying what the stub does answer, under ``listing``."""

    async def respond() -> web.StreamResponse:
        return web.json_response(
            {"error": f"nothing matches {request.method} {request.path_qs}", listing: list(known)},
            status=404,
        )

    return Match(UNMATCHED, respond, unmatched=True)


class FeaturesServed:
    """The reference feature store: ``GET /features/{key}`` and ``GET /enrich/{key}``."""

    _ROUTES = ("/features/", "/enrich/")

    def __init__(self, spec: FeaturesSpec) -> None:
        self.spec = spec

    async def match(self, request: web.Request) -> Match:
        if request.method in {"GET", "HEAD"}:
            for prefix in self._ROUTES:
                key = request.path.removeprefix(prefix)
                if key != request.path and key and "/" not in key:
                    return Match(f"{prefix}{{key}}", self._respond(key))
        return unmatched(request, "routes", [f"GET {prefix}{{key}}" for prefix in self._ROUTES])

    async def close(self) -> None:
        return None

    def _respond(self, key: str) -> Respond:
        async def respond() -> web.StreamResponse:
            values = features_for(key, n_features=self.spec.n_features, seed=self.spec.seed)
            return web.json_response({"key": key, "features": values})

        return respond


class RoutesServed:
    """Scripted routes; its dice draw the routes' latencies (seeded, so runs repeat)."""

    def __init__(self, spec: RoutesSpec, seed: int) -> None:
        self.spec = spec
        self._dice = random.Random(seed)

    async def match(self, request: web.Request) -> Match:
        call = Call(
            method=request.method,
            path=request.path,
            query={name: request.query.getone(name) for name in request.query},
            headers={name.lower(): request.headers.getone(name) for name in request.headers},
            body=Call.decode_body(await request.read()),
        )
        found = first_match(self.spec.routes, call)
        if found is None:
            return unmatched(request, "routes", [route.describe() for route in self.spec.routes])
        route, captures = found
        return Match(route.describe(), self._respond(route, call, captures))

    async def close(self) -> None:
        return None

    def _respond(self, route: Route, call: Call, captures: dict[str, str]) -> Respond:
        async def respond() -> web.StreamResponse:
            if route.latency is not None:
                await asyncio.sleep(route.latency.sample_s(self._dice))
            values = CallValues(call.method, call.path, captures, call.query, call.body)
            answer = route.response
            if answer.stream is not None:
                events = answer.stream.events(values)
                return EventStream(
                    paced(events, answer.stream.events_per_s, answer.stream.done),
                    status=answer.status,
                    headers=answer.render_headers(values),
                )
            status, headers, body = answer.render(values)
            return web.Response(status=status, headers=CIMultiDict(headers), body=body)

        return respond


class ReplayServed:
    """A recording answered back, each answer after the latency recorded with it."""

    def __init__(self, spec: ReplaySpec) -> None:
        self.spec = spec
        self._replayer = Replayer(spec.exchanges)

    async def match(self, request: web.Request) -> Match:
        body = await request.read()
        exchange = self._replayer.answer(request.method, request.raw_path, body)
        if exchange is None:
            return unmatched(request, "recorded", self._replayer.recorded())
        return Match("replay", self._respond(exchange))

    async def close(self) -> None:
        return None

    def _respond(self, exchange: Exchange) -> Respond:
        async def respond() -> web.StreamResponse:
            if exchange.latency_ms > 0:
                await asyncio.sleep(exchange.latency_ms / 1000.0)
            answer = exchange.response
            headers = CIMultiDict(
                (name, value) for name, value in answer.headers if name.lower() not in _NOT_REPLAYED
            )
            if is_event_stream(headers) and "Content-Encoding" not in headers:
                # A recorded stream is answered as a stream, each event when it came, so stream
                # faults break it as they would the real one.
                return EventStream(_replayed(answer), status=answer.status, headers=headers.items())
            return web.Response(status=answer.status, headers=headers, body=answer.body)

        return respond


async def _replayed(answer: RecordedResponse) -> AsyncGenerator[bytes, None]:
    """The events of a recorded event-stream answer (and whatever follows the last one), each
    as long after the head as it came then; all at once when the recording has no times."""
    pieces = stream_pieces(answer.body)
    times = answer.events_ms or (0.0,) * len(pieces)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for piece, at_ms in zip(pieces, times, strict=True):
        wait = start + at_ms / 1000.0 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        yield piece
