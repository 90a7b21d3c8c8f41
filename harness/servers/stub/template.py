"""Placeholders in a route's answer, filled from the call it answers: ``{{method}}``, ``{{path}}``,
``{{path.NAME}}`` (a named group of the route's path regex), ``{{query.NAME}}``, ``{{body}}`` and
``{{body.a.b}}`` (a field of the call's JSON body; list items by index, ``items.0``).

In text (a body, a header value, part of a JSON string) a value goes in as its text (a JSON
value other than a string as its JSON), a missing one as the empty string. A JSON string that is
exactly one placeholder becomes the raw value, so numbers and lists keep their type, or null when
the value is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MISSING",
    "PLACEHOLDER",
    "CallValues",
    "json_field",
    "placeholder_error",
    "placeholders",
    "render_json",
    "render_text",
]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_ROOTS = ("method", "path", "body")
_NAMED = ("path", "query", "body")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def json_field(document: object, dotted: str) -> Any:
    """The value at ``a.b.0`` inside a decoded JSON document, or MISSING."""
    value = document
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


@dataclass(frozen=True, slots=True)
class CallValues:
    """What placeholders are filled from: one call, and the route's regex captures."""

    method: str
    path: str
    captures: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = MISSING

    def lookup(self, name: str) -> Any:
        root, _, rest = name.partition(".")
        if not rest:
            return {"method": self.method, "path": self.path, "body": self.body}.get(root, MISSING)
        if root == "path":
            return self.captures.get(rest, MISSING)
        if root == "query":
            return self.query.get(rest, MISSING)
        if root == "body":
            return json_field(self.body, rest)
        return MISSING


def placeholders(value: object) -> Iterator[str]:
    """Every placeholder name in ``value`` (a string, or JSON with strings inside)."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield match.group(1)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from placeholders(item)


def placeholder_error(name: str, groups: frozenset[str] | None) -> str | None:
    """Why ``{{name}}`` cannot be filled for a route whose path regex has named ``groups``
    (None when its path is not a regex), or None when it can."""
    root, dot, rest = name.partition(".")
    if not dot and root in _ROOTS:
        return None
    if dot and root in _NAMED and rest:
        if root != "path":
            return None
        if groups is None:
            return f"expected {{{{path.{rest}}}}} only on a route whose path is a regex"
        if rest in groups:
            return None
        return (
            f"expected a named group of the path regex ({sorted(groups)}) "
            f"but got {{{{path.{rest}}}}}"
        )
    return (
        "expected a placeholder among {{method}}, {{path}}, {{path.NAME}}, {{query.NAME}}, "
        f"{{{{body}}}}, {{{{body.FIELD}}}} but got {{{{{name}}}}}"
    )


def render_text(template: str, values: CallValues) -> str:
    """``template`` with each placeholder replaced by its value as text."""
    return PLACEHOLDER.sub(lambda match: _as_text(values.lookup(match.group(1))), template)


def render_json(template: Any, values: CallValues) -> Any:
    """A copy of the JSON ``template`` with the placeholders of its strings filled."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None:
            value = values.lookup(whole.group(1))
            return None if value is MISSING else value
        return render_text(template, values)
    if isinstance(template, Mapping):
        return {key: render_json(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render_json(item, values) for item in template]
    return template


def _as_text(value: Any) -> str:
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)
