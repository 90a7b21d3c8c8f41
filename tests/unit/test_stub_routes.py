"""Scripted routes without a server: how a route is read (and every error's field), which route
a call matches, and how an answer's placeholders are filled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faults.http import Fixed, LogNormal
from harness.servers.stub import RoutesSpec, StubSpecError, stub_spec_from_json
from harness.servers.stub.routes import Call, PathMatch, Route, first_match
from harness.servers.stub.template import MISSING, CallValues, render_json, render_text


def _routes(*routes: Any) -> tuple[Route, ...]:
    spec = stub_spec_from_json({"kind": "routes", "routes": list(routes)})
    assert isinstance(spec, RoutesSpec)
    return spec.routes


def _route(path: Any = "/x", **extra: Any) -> dict[str, Any]:
    return {"path": path, "response": {"status": 200}, **extra}


# --- reading --------------------------------------------------------------------------------


def test_route_reads_every_field() -> None:
    (route,) = _routes(
        {
            "method": "post",
            "path": {"regex": "/v1/items/(?P<id>[0-9]+)"},
            "query": {"page": 2},
            "headers": {"X-Tenant": "a"},
            "body": {"user.id": 7},
            "response": {
                "status": 201,
                "headers": {"X-Item": "{{path.id}}"},
                "json": {"id": "{{path.id}}"},
            },
            "latency": {"type": "lognormal", "median": 40, "sigma": 0.3},
        }
    )
    assert route.method == "POST"
    assert route.path == PathMatch("regex", "/v1/items/(?P<id>[0-9]+)")
    assert route.query == (("page", "2"),)
    assert route.headers == (("x-tenant", "a"),)
    assert route.body == (("user.id", "7"),)
    assert route.response.status == 201
    assert route.latency == LogNormal(40.0, 0.3)
    assert route.describe() == "POST regex /v1/items/(?P<id>[0-9]+)"
    (plain,) = _routes({"path": "/health-of-x", "response": {}, "latency": 5})
    assert plain.path == PathMatch("exact", "/health-of-x")
    assert plain.method is None
    assert plain.latency == Fixed(5.0)
    assert plain.describe() == "ANY /health-of-x"


@pytest.mark.parametrize(
    ("route", "field", "message"),
    [
        ("/x", "routes[0]", "expected a route object but got"),
        ({"path": "/x"}, "routes[0].response", "expected a response"),
        ({"response": {}}, "routes[0].path", "expected a path but the route has none"),
        (_route(colour="red"), "routes[0].colour", "unknown field 'colour'"),
        (_route(method="GE T"), "routes[0].method", "expected an HTTP method"),
        (_route(method=5), "routes[0].method", "expected a string but got method=5"),
        (_route(path="x"), "routes[0].path", "expected a path starting with /"),
        (_route(path={"regex": "(?P<id"}), "routes[0].path.regex", "expected a valid regular"),
        (_route(path={"prefix": "v1"}), "routes[0].path.prefix", "starting with / but got"),
        (_route(path={"exact": "/a", "prefix": "/a"}), "routes[0].path", "exactly one of"),
        (_route(path={}), "routes[0].path", "exactly one of"),
        (_route(path={"glob": "/a"}), "routes[0].path.glob", "unknown field 'glob'"),
        (_route(query={"a": [1]}), "routes[0].query.a", "expected a string or a number"),
        (_route(headers={"X": True}), "routes[0].headers.X", "but got X=True"),
        (_route(headers=["X"]), "routes[0].headers", "expected an object of names"),
        (_route(body={"a..b": 1}), "routes[0].body", "expected a dotted JSON field"),
        (_route(body={"a": float("nan")}), "routes[0].body.a", "expected a JSON value"),
        (_route(latency=-1), "routes[0].latency", "expected ms >= 0"),
        (_route(latency={"type": "gamma"}), "routes[0].latency", "expected latency type"),
        ({"path": "/x", "response": []}, "routes[0].response", "expected a response object"),
        ({"path": "/x", "response": {"status": 99}}, "routes[0].response.status", "100..599"),
        ({"path": "/x", "response": {"code": 1}}, "routes[0].response.code", "unknown field"),
        (
            {"path": "/x", "response": {"json": {}, "body": ""}},
            "routes[0].response.body",
            "either json or body",
        ),
        ({"path": "/x", "response": {"body": 3}}, "routes[0].response.body", "expected a string"),
        (
            {"path": "/x", "response": {"json": {"a": "{{nope}}"}}},
            "routes[0].response.json",
            "but got {{nope}}",
        ),
        (
            {"path": "/x", "response": {"body": "{{path.id}}"}},
            "routes[0].response.body",
            "only on a route whose path is a regex",
        ),
        (
            {"path": {"regex": "/(?P<id>.+)"}, "response": {"headers": {"H": "{{path.ix}}"}}},
            "routes[0].response.headers.H",
            "expected a named group of the path regex (['id']) but got {{path.ix}}",
        ),
    ],
)
def test_route_errors_name_the_field(route: Any, field: str, message: str) -> None:
    with pytest.raises(StubSpecError) as caught:
        _routes(_route("/ok"), route)
    # The route at fault is the second one.
    assert caught.value.field == field.replace("routes[0]", "routes[1]")
    assert message in caught.value.message


# --- matching -------------------------------------------------------------------------------


def _call(
    method: str = "GET",
    path: str = "/x",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = MISSING,
) -> Call:
    return Call(method, path, query or {}, headers or {}, body)


def _matched(routes: tuple[Route, ...], call: Call) -> int | None:
    found = first_match(routes, call)
    return None if found is None else routes.index(found[0])


def test_path_exact_prefix_and_whole_regex() -> None:
    routes = _routes(
        _route("/a"), _route({"prefix": "/b/"}), _route({"regex": "/c/(?P<id>[0-9]+)"})
    )
    assert _matched(routes, _call(path="/a")) == 0
    assert _matched(routes, _call(path="/a/")) is None
    assert _matched(routes, _call(path="/b/anything/else")) == 1
    assert _matched(routes, _call(path="/b")) is None
    assert first_match(routes, _call(path="/c/42")) == (routes[2], {"id": "42"})
    # The regex must match the whole path, not a part of it.
    assert _matched(routes, _call(path="/c/42/more")) is None
    assert _matched(routes, _call(path="/x/c/42")) is None


def test_method_matches_case_insensitively_and_absent_means_any() -> None:
    routes = _routes(_route("/a", method="POST"), _route("/a"))
    assert _matched(routes, _call("post", "/a")) == 0
    assert _matched(routes, _call("GET", "/a")) == 1
    assert _matched(routes, _call("DELETE", "/a")) == 1


def test_query_header_and_body_predicates_all_must_hold() -> None:
    routes = _routes(
        _route(
            "/a",
            query={"page": 2},
            headers={"X-Tenant": "blue"},
            body={"user.id": 7, "tags.1": "b"},
        ),
        _route("/a"),
    )
    good = _call(
        "POST",
        "/a",
        query={"page": "2"},
        headers={"x-tenant": "blue"},
        body={"user": {"id": 7}, "tags": ["a", "b"]},
    )
    assert _matched(routes, good) == 0
    for bad in (
        _call("POST", "/a", {"page": "3"}, {"x-tenant": "blue"}, good.body),
        _call("POST", "/a", {"page": "2"}, {"x-tenant": "red"}, good.body),
        _call("POST", "/a", {"page": "2"}, {}, good.body),
        _call("POST", "/a", {"page": "2"}, {"x-tenant": "blue"}, {"user": {"id": 8}}),
        _call("POST", "/a", {"page": "2"}, {"x-tenant": "blue"}, MISSING),
    ):
        assert _matched(routes, bad) == 1


@pytest.mark.parametrize(
    ("expected", "found", "matches"),
    [
        (True, True, True),
        (1, True, False),
        (True, 1, False),
        (1, 1.0, True),
        ({"a": [1, None]}, {"a": [1, None]}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        (None, None, True),
        ("1", 1, False),
    ],
)
def test_body_predicates_compare_json_values(expected: Any, found: Any, matches: bool) -> None:
    routes = _routes(_route("/a", body={"v": expected}))
    assert (_matched(routes, _call(path="/a", body={"v": found})) == 0) is matches


def test_first_matching_route_wins() -> None:
    routes = _routes(_route({"prefix": "/"}), _route("/a"))
    assert _matched(routes, _call(path="/a")) == 0


@given(st.text("ab/", max_size=8), st.sampled_from(["GET", "POST"]))
def test_a_catch_all_route_matches_every_call(path: str, method: str) -> None:
    routes = _routes(_route("/never"), _route({"regex": ".*"}))
    assert _matched(routes, _call(method, path)) == (0 if path == "/never" else 1)


# --- templating -----------------------------------------------------------------------------

_VALUES = CallValues(
    method="POST",
    path="/v1/items/42",
    captures={"id": "42"},
    query={"q": "x y"},
    body={"user": {"id": 7, "tags": ["a", "b"]}, "n": None},
)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{path.id}}", "42"),
        ("{{body.user.id}}", 7),
        ("{{body.user.tags}}", ["a", "b"]),
        ("{{body.n}}", None),
        ("{{body.absent}}", None),
        ("{{query.q}}", "x y"),
        ("{{query.absent}}", None),
        ("{{ method }}", "POST"),
        ("{{path}}", "/v1/items/42"),
        ("id={{body.user.id}}, tags={{body.user.tags}}", 'id=7, tags=["a", "b"]'),
        ("{{method}} {{path}}!", "POST /v1/items/42!"),
        ("[{{body.absent}}]", "[]"),
        ("{{body.user.tags.1}}", "b"),
        ("no placeholder", "no placeholder"),
        (
            {"item": {"id": "{{path.id}}", "list": ["{{body.user.id}}", 3]}, "n": 1},
            {"item": {"id": "42", "list": [7, 3]}, "n": 1},
        ),
    ],
)
def test_json_placeholders(template: Any, rendered: Any) -> None:
    assert render_json(template, _VALUES) == rendered


def test_text_placeholders_render_missing_as_empty() -> None:
    assert render_text("{{body.absent}}|{{body.user.id}}|{{path.id}}", _VALUES) == "|7|42"
    assert render_text("{{body}}", _VALUES) == json.dumps(_VALUES.body)


def test_route_response_renders_status_headers_and_body() -> None:
    (json_route, text_route) = _routes(
        {
            "path": {"regex": "/v1/items/(?P<id>[0-9]+)"},
            "response": {
                "status": 201,
                "headers": {"X-Id": "{{path.id}}"},
                "json": {"id": "{{body.user.id}}"},
            },
        },
        {
            "path": "/t",
            "response": {"headers": {"Content-Type": "text/csv"}, "body": "{{method}},{{query.q}}"},
        },
    )
    status, headers, body = json_route.response.render(_VALUES)
    assert (status, json.loads(body)) == (201, {"id": 7})
    assert headers == [("X-Id", "42"), ("Content-Type", "application/json")]
    status, headers, body = text_route.response.render(_VALUES)
    assert (status, headers, body) == (200, [("Content-Type", "text/csv")], b"POST,x y")


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20))
def test_text_without_placeholders_is_unchanged(text: str) -> None:
    assert render_text(text, _VALUES) == text
    assert render_json(text, _VALUES) == text
