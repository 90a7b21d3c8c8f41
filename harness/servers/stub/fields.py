"""Reading a JSON-able stub spec field by field, so every error names the dotted path of the field
it is about (``routes[2].path.regex``) and says what was expected and what was found."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ChaosError

__all__ = [
    "StubSpecError",
    "at",
    "boolean",
    "found",
    "integer",
    "known",
    "mapping",
    "number",
    "sequence",
    "text",
]

_SHOWN = 80


class StubSpecError(ChaosError, ValueError):
    """A stub spec (or a recording) is malformed. ``field`` is the dotted path of the field at
    fault, relative to the spec (``routes[2].path.regex``; empty for the spec as a whole), and
    ``message`` (also ``str(error)``) says what was expected and what was found, so a caller can
    put its own file, line and path in front."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)

    def located(self) -> str:
        """``field: message``, for a reader who has no other context."""
        return f"{self.field}: {self.message}" if self.field else self.message


def at(parent: str, child: str | int) -> str:
    """The path of ``child`` inside ``parent``: ``at("routes", 2)`` is ``routes[2]``."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child


def found(value: object) -> str:
    """``value`` as an error message shows it: its repr, cut short when long."""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 3] + "..."


def _name(field: str) -> str:
    return field.rsplit(".", 1)[-1] or "value"


def mapping(value: object, field: str, what: str = "an object") -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise StubSpecError(field, f"expected {what} but got {_name(field)}={found(value)}")
    return value


def sequence(value: object, field: str, what: str = "a list") -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise StubSpecError(field, f"expected {what} but got {_name(field)}={found(value)}")
    return value


def known(doc: Mapping[str, Any], allowed: set[str] | frozenset[str], field: str) -> None:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise StubSpecError(
            at(field, unknown[0]),
            f"expected fields among {sorted(allowed)} but got unknown field {unknown[0]!r}",
        )


def text(doc: Mapping[str, Any], key: str, field: str, *, non_empty: bool = False) -> str:
    value = doc.get(key)
    where = at(field, key)
    if not isinstance(value, str) or (non_empty and not value):
        what = "a non-empty string" if non_empty else "a string"
        raise StubSpecError(where, f"expected {what} but got {key}={found(value)}")
    return value


def integer(doc: Mapping[str, Any], key: str, field: str, *, low: int, high: int) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StubSpecError(
            at(field, key), f"expected an integer in {low}..{high} but got {key}={found(value)}"
        )
    return value


def number(doc: Mapping[str, Any], key: str, field: str, *, low: float = 0.0) -> float:
    value = doc.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < low
    ):
        raise StubSpecError(
            at(field, key), f"expected a number >= {low:g} but got {key}={found(value)}"
        )
    return float(value)


def boolean(doc: Mapping[str, Any], key: str, field: str) -> bool:
    value = doc.get(key)
    if not isinstance(value, bool):
        raise StubSpecError(at(field, key), f"expected true or false but got {key}={found(value)}")
    return value
