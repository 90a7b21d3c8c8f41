"""Scripted routes, WireMock's way: each matches calls by method, path (exact, prefix or a regex
that must match the whole path), query parameters, headers and fields of the JSON body, and
answers with a fixed status, headers and body (templated from the call, see ``template``), or
with a stream of server-sent events at a given rate (see ``route_stream``), after a latency
drawn from its distribution. The first route that matches answers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from faults.http import Latency, latency_from_json
from harness.servers.stub import fields as f
from harness.servers.stub.fields import StubSpecError
from harness.servers.stub.route_stream import RouteStream, stream_from_json, stream_to_json
from harness.servers.stub.template import (
    MISSING,
    CallValues,
    json_field,
    placeholder_error,
    placeholders,
    render_json,
    render_text,
)

__all__ = [
    "Call",
    "PathMatch",
    "Route",
    "RouteResponse",
    "first_match",
    "route_from_json",
    "route_to_json",
]

PathHow = Literal["exact", "prefix", "regex"]
_HOWS: tuple[PathHow, ...] = ("exact", "prefix", "regex")
_ROUTE_FIELDS = frozenset({"method", "path", "query", "headers", "body", "response", "latency"})
_BODIES = ("json", "body", "stream")
_RESPONSE_FIELDS = frozenset({"status", "headers", *_BODIES})
_METHOD = re.compile(r"^[A-Za-z]+$")


@dataclass(frozen=True, slots=True)
class Call:
    """What a route looks at in one call: header names in lower case, the first value of each
    query parameter, and the body decoded as JSON (MISSING when it is not JSON)."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = MISSING

    @staticmethod
    def decode_body(raw: bytes) -> Any:
        """The JSON in ``raw``, or MISSING when there is none."""
        if not raw:
            return MISSING
        try:
            return json.loads(raw)
        except ValueError:
            return MISSING


@dataclass(frozen=True, slots=True)
class PathMatch:
    """How a route's path is compared: equal to, starting with, or wholly matching ``value``."""

    how: PathHow
    value: str

    def captures(self, path: str) -> dict[str, str] | None:
        """None when ``path`` does not match, else the regex's named groups that matched."""
        if self.how == "exact":
            return {} if path == self.value else None
        if self.how == "prefix":
            return {} if path.startswith(self.value) else None
        # re caches compiled patterns, so the value object can hold the plain text.
        matched = re.fullmatch(self.value, path)
        if matched is None:
            return None
        return {name: value for name, value in matched.groupdict().items() if value is not None}

    def groups(self) -> frozenset[str] | None:
        """The regex's named groups, None when the path is not a regex."""
        return frozenset(re.compile(self.value).groupindex) if self.how == "regex" else None

    def describe(self) -> str:
        return self.value if self.how == "exact" else f"{self.how} {self.value}"


@dataclass(frozen=True, slots=True)
class RouteResponse:
    """What a route answers; ``json_text`` (JSON) or ``text`` is the body, neither is none;
    or ``stream``, a body of server-sent events, sent as they are due."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    json_text: str | None = None
    text: str | None = None
    stream: RouteStream | None = None

    def render_headers(self, values: CallValues) -> list[tuple[str, str]]:
        """The headers for the call ``values`` describes, placeholders filled."""
        return [(name, render_text(value, values)) for name, value in self.headers]

    def render(self, values: CallValues) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body for the call ``values`` describes (a stream's events are
        made by ``stream.events``, not here)."""
        headers = self.render_headers(values)
        if self.json_text is not None:
            body = json.dumps(render_json(json.loads(self.json_text), values)).encode()
            default_type = "application/json"
        elif self.text is not None:
            body = render_text(self.text, values).encode()
            default_type = "text/plain; charset=utf-8"
        else:
            return self.status, headers, b""
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", default_type))
        return self.status, headers, body


@dataclass(frozen=True, slots=True)
class Route:
    """One scripted route: what it matches, what it answers, after how long."""

    path: PathMatch
    response: RouteResponse
    method: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    # (dotted field of the JSON body, the JSON text of the value it must equal)
    body: tuple[tuple[str, str], ...] = ()
    latency: Latency | None = None

    def captures(self, call: Call) -> dict[str, str] | None:
        """None when the route does not match ``call``, else its path regex's captures."""
        if self.method is not None and call.method.upper() != self.method:
            return None
        captured = self.path.captures(call.path)
        if captured is None:
            return None
        if any(call.query.get(name) != value for name, value in self.query):
            return None
        if any(call.headers.get(name) != value for name, value in self.headers):
            return None
        for dotted, expected in self.body:
            if not _same(json_field(call.body, dotted), json.loads(expected)):
                return None
        return captured

    def describe(self) -> str:
        return f"{self.method or 'ANY'} {self.path.describe()}"


def first_match(routes: Sequence[Route], call: Call) -> tuple[Route, dict[str, str]] | None:
    """The first route matching ``call``, with its captures; None when none does."""
    for route in routes:
        captured = route.captures(call)
        if captured is not None:
            return route, captured
    return None


def _same(found: Any, expected: Any) -> bool:
    """JSON equality: unlike ``==``, true is not 1 (but 1 is 1.0, as JSON has one number)."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return type(found) is type(expected) and found == expected
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(
            _same(found[key], expected[key]) for key in found
        )
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(map(_same, found, expected))
    if found is MISSING:
        return False
    return bool(found == expected)


# --- JSON ------------------------------------------------------------------------------------


def route_from_json(value: object, where: str) -> Route:
    """One route as a spec writes it; errors name fields below ``where`` (``routes[2]``)."""
    doc = f.mapping(value, where, "a route object")
    f.known(doc, _ROUTE_FIELDS, where)
    method = None
    if "method" in doc:
        method = f.text(doc, "method", where)
        if not _METHOD.match(method):
            raise StubSpecError(
                f.at(where, "method"),
                f"expected an HTTP method such as GET but got method={f.found(method)}",
            )
        method = method.upper()
    if "path" not in doc:
        raise StubSpecError(f.at(where, "path"), "expected a path but the route has none")
    path = _path(doc["path"], f.at(where, "path"))
    if "response" not in doc:
        raise StubSpecError(
            f.at(where, "response"),
            "expected a response ({status, headers, json | body | stream}) but the route has none",
        )
    latency = None
    if "latency" in doc:
        try:
            latency = latency_from_json(doc["latency"])
        except ValueError as exc:
            raise StubSpecError(f.at(where, "latency"), str(exc)) from exc
    return Route(
        path=path,
        response=_response(doc["response"], f.at(where, "response"), path.groups()),
        method=method,
        query=_scalars(doc, "query", where, lower=False),
        headers=_scalars(doc, "headers", where, lower=True),
        body=_body_predicates(doc, where),
        latency=latency,
    )


def route_to_json(route: Route) -> dict[str, Any]:
    """What ``route_from_json`` reads back as ``route``."""
    doc: dict[str, Any] = {"path": {route.path.how: route.path.value}}
    if route.method is not None:
        doc["method"] = route.method
    if route.query:
        doc["query"] = dict(route.query)
    if route.headers:
        doc["headers"] = dict(route.headers)
    if route.body:
        doc["body"] = {dotted: json.loads(value) for dotted, value in route.body}
    answer: dict[str, Any] = {"status": route.response.status}
    if route.response.headers:
        answer["headers"] = dict(route.response.headers)
    if route.response.json_text is not None:
        answer["json"] = json.loads(route.response.json_text)
    if route.response.text is not None:
        answer["body"] = route.response.text
    if route.response.stream is not None:
        answer["stream"] = stream_to_json(route.response.stream)
    doc["response"] = answer
    if route.latency is not None:
        doc["latency"] = route.latency.to_json()
    return doc


def _path(value: object, where: str) -> PathMatch:
    if isinstance(value, str):
        how: PathHow = "exact"
        text = value
        field_at = where
    else:
        doc = f.mapping(value, where, 'a path such as "/v1/items" or {exact|prefix|regex: ...}')
        given = [key for key in _HOWS if key in doc]
        f.known(doc, frozenset(_HOWS), where)
        if len(given) != 1:
            raise StubSpecError(
                where, f"expected exactly one of {list(_HOWS)} but got {sorted(doc) or 'none'}"
            )
        how = given[0]
        text = f.text(doc, how, where)
        field_at = f.at(where, how)
    if how == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            raise StubSpecError(
                field_at, f"expected a valid regular expression but got regex={text!r} ({exc})"
            ) from exc
    elif not text.startswith("/"):
        raise StubSpecError(
            field_at, f"expected a path starting with / but got {how}={f.found(text)}"
        )
    return PathMatch(how, text)


def _scalars(
    doc: Mapping[str, Any], key: str, where: str, *, lower: bool
) -> tuple[tuple[str, str], ...]:
    if key not in doc:
        return ()
    here = f.at(where, key)
    pairs = []
    for name, value in f.mapping(doc[key], here, "an object of names to values").items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise StubSpecError(
                f.at(here, name), f"expected a string or a number but got {name}={f.found(value)}"
            )
        pairs.append((name.lower() if lower else name, str(value)))
    return tuple(pairs)


def _body_predicates(doc: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    if "body" not in doc:
        return ()
    here = f.at(where, "body")
    pairs = []
    for dotted, value in f.mapping(doc["body"], here, "an object of JSON fields to values").items():
        if not dotted or "" in dotted.split("."):
            raise StubSpecError(
                here, f"expected a dotted JSON field such as user.id but got {dotted!r}"
            )
        pairs.append((dotted, _json_text(value, f.at(here, dotted))))
    return tuple(pairs)


def _response(value: object, where: str, groups: frozenset[str] | None) -> RouteResponse:
    doc = f.mapping(value, where, "a response object {status, headers, json | body | stream}")
    f.known(doc, _RESPONSE_FIELDS, where)
    status = f.integer(doc, "status", where, low=100, high=599) if "status" in doc else 200
    headers = _scalars(doc, "headers", where, lower=False)
    for name, header in headers:
        _check_placeholders(header, f.at(f.at(where, "headers"), name), groups)
    bodies = [key for key in _BODIES if key in doc]
    if len(bodies) > 1:
        raise StubSpecError(
            f.at(where, bodies[1]),
            f"expected either {bodies[0]} or {bodies[1]} in a response but got both "
            f"(a response has one of {list(_BODIES)})",
        )
    json_text = None
    text = None
    stream = None
    if "json" in doc:
        json_text = _json_text(doc["json"], f.at(where, "json"))
        _check_placeholders(doc["json"], f.at(where, "json"), groups)
    elif "body" in doc:
        text = f.text(doc, "body", where)
        _check_placeholders(text, f.at(where, "body"), groups)
    elif "stream" in doc:
        here = f.at(where, "stream")
        stream = stream_from_json(doc["stream"], here)
        _check_placeholders(doc["stream"], here, groups)
    return RouteResponse(status, headers, json_text, text, stream)


def _check_placeholders(value: object, where: str, groups: frozenset[str] | None) -> None:
    for name in placeholders(value):
        problem = placeholder_error(name, groups)
        if problem is not None:
            raise StubSpecError(where, problem)


def _json_text(value: object, where: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StubSpecError(where, f"expected a JSON value but got {f.found(value)}") from exc
