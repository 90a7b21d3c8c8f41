"""The ``client:`` section: the user's own client callable put under test, found by its
``module:function`` path (or a reference client's short name) and checked before anything
starts: it must import, be callable and take ``(url, payload)``."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.scenario.spec import Scenario

__all__ = ["ClientCallable", "ClientSpec", "resolve_client", "with_client"]

ClientCallable = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A client under test: ``callable`` (a ``module:function`` path or a reference client's
    name) or ``function`` (a function object, from pytest), called open loop with at most
    ``max_in_flight`` calls at once; ``payload`` is the JSON body each call carries (None: the
    load's records)."""

    callable: str = ""
    function: ClientCallable | None = None
    max_in_flight: int = 256
    payload: bytes | None = None
    # Where a module path is also looked up: the scenario file's folder.
    search_path: str = ""

    @property
    def label(self) -> str:
        if self.function is not None:
            module = getattr(self.function, "__module__", "?")
            return f"{module}:{getattr(self.function, '__qualname__', repr(self.function))}"
        return self.callable


def with_client(scenario: Scenario, client: str | ClientCallable) -> Scenario:
    """``scenario`` with ``client`` under test (a ``module:function`` path, a reference
    client's name, or a function), keeping the scenario's ``max_in_flight`` and ``payload``;
    checked at once, a UsageError when it cannot be called as ``call(url, payload)``."""
    kept = scenario.client or ClientSpec(search_path=str(Path(scenario.source).parent.resolve()))
    if isinstance(client, str):
        spec = replace(kept, callable=client, function=None)
    else:
        spec = replace(kept, callable="", function=client)
    resolve_client(spec)
    return replace(scenario, client=spec)


def resolve_client(spec: ClientSpec) -> ClientCallable:
    """The function ``spec`` names, or a UsageError saying what is wrong with it."""
    function = spec.function if spec.function is not None else _import(spec)
    _check_signature(function, spec.label)
    return function


def _import(spec: ClientSpec) -> ClientCallable:
    from harness.clients import REFERENCE_CLIENTS

    path = REFERENCE_CLIENTS.get(spec.callable, spec.callable)
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise UsageError(
            f"client callable {spec.callable!r}: expected module:function, e.g. "
            f"myclient.http:call, or one of {sorted(REFERENCE_CLIENTS)}"
        )
    for folder in (spec.search_path, str(Path.cwd())):
        if folder and folder not in sys.path:
            sys.path.append(folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error in the user's module is theirs to see
        raise UsageError(
            f"client callable {spec.callable!r}: module {module_name!r} does not import "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise UsageError(
                f"client callable {spec.callable!r}: module {module_name!r} has no {attribute!r}"
            )
    if not callable(found):
        raise UsageError(
            f"client callable {spec.callable!r}: {attribute!r} is not callable "
            f"(it is {type(found).__name__})"
        )
    function: ClientCallable = found
    return function


def _check_signature(function: Any, label: str) -> None:
    if not callable(function):
        raise UsageError(f"client {label}: expected a function but got {type(function).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind("http://127.0.0.1/invocations", {})
    except TypeError as exc:
        raise UsageError(
            f"client {label}: expected call(url, payload) but its signature is {signature} ({exc})"
        ) from exc
