"""The YAML reader under scenario parsing: walks the document with a path, so every error
names its file, line and field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from harness.errors import ScenarioError

__all__ = ["Reader"]


class Reader:
    """Walks the parsed YAML with a path, so every error names its field and line."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        try:
            self.root_node = yaml.compose(text)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"not valid YAML: {exc}", source=source) from exc

    def error(self, path: str, message: str) -> ScenarioError:
        line = self._line(path)
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(message, source=where, field=path)

    def _line(self, path: str) -> int | None:
        node = self.root_node
        if node is None:
            return None
        line: int | None = node.start_mark.line + 1
        for part in path.replace("[", ".").replace("]", "").split("."):
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and part.isdigit():
                index = int(part)
                match = node.value[index] if index < len(node.value) else None
            else:
                match = None
            if match is None:
                return line
            node, line = match, match.start_mark.line + 1
        return line

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a mapping but got {type(value).__name__}")
        return value

    def known_keys(self, value: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.error(where, f"unknown field; expected one of {sorted(allowed)}")

    def number(
        self,
        value: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: float | None = None,
        minimum: float | None = None,
        exclusive: bool = False,
        integer: bool = False,
    ) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in value:
            if default is None:
                raise self.error(where, "required field is missing")
            return default
        found = value[key]
        kind = int if integer else (int, float)
        if isinstance(found, bool) or not isinstance(found, kind):
            expected = "an integer" if integer else "a number"
            raise self.error(where, f"expected {expected} but got {key}={found!r}")
        if minimum is not None and (found <= minimum if exclusive else found < minimum):
            sign = ">" if exclusive else ">="
            raise self.error(where, f"expected {key} {sign} {minimum:g} but got {key}={found!r}")
        return found

    def text(
        self, value: Mapping[str, Any], key: str, path: str, default: str | None = None
    ) -> str:
        where = f"{path}.{key}" if path else key
        found = value.get(key, default)
        if found is None:
            raise self.error(where, "required field is missing")
        if not isinstance(found, str) or not found.strip():
            raise self.error(where, f"expected a non-empty string but got {key}={found!r}")
        return found
