"""What each request carries and what counts as a good answer.

Bodies and validators are small frozen objects rather than closures so they can be handed to
worker processes. Request ``i`` of the whole schedule always gets the same body, whichever
worker sends it, so a run is repeatable however it is split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.errors import UsageError

__all__ = [
    "AcceptAny",
    "BodySource",
    "FixedBody",
    "PredictionsPerRecord",
    "RecordsBody",
    "SampleBodies",
    "Validator",
    "body_file",
    "json_body",
]


class BodySource(Protocol):
    def __call__(self, index: int) -> bytes: ...


class Validator(Protocol):
    """Says why a response with a 2xx status is still wrong, or None when it is fine."""

    def __call__(self, status: int, body: bytes) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RecordsBody:
    """MLflow-style ``dataframe_records``: ``records`` per request; entity keys cycle a keyspace
    so a feature cache sees a realistic mix of hits and misses."""

    records: int = 1
    keyspace: int = 1000

    def __post_init__(self) -> None:
        if self.records < 1:
            raise UsageError(f"expected records >= 1 but got records={self.records}")
        if self.keyspace < 1:
            raise UsageError(f"expected keyspace >= 1 but got keyspace={self.keyspace}")

    def __call__(self, index: int) -> bytes:
        first = index * self.records
        rows = [
            {"entity_id": f"user-{(first + k) % self.keyspace}", "amount": float((first + k) % 97)}
            for k in range(self.records)
        ]
        return json.dumps({"dataframe_records": rows}).encode()


@dataclass(frozen=True, slots=True)
class FixedBody:
    """The same bytes every time (``--body`` or an empty body for GET)."""

    data: bytes = b""

    def __call__(self, index: int) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class SampleBodies:
    """Bodies taken in turn from a file of samples: one JSON document per line."""

    samples: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise UsageError("expected at least one sample body but the file has none")

    def __call__(self, index: int) -> bytes:
        return self.samples[index % len(self.samples)]


def json_body(text: str, *, what: str = "--body") -> bytes:
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"expected {what} to be JSON but got {text[:60]!r}: {exc}") from exc
    return text.encode()


def body_file(path: Path) -> SampleBodies:
    """A single JSON document, or JSON lines, each line one sample."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read body file {path}: {exc.strerror or exc}") from exc
    try:
        return SampleBodies((json_body(text, what=str(path)).strip(),))
    except UsageError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    return SampleBodies(
        tuple(json_body(line, what=f"{path}:{n}") for n, line in enumerate(lines, 1))
    )


@dataclass(frozen=True, slots=True)
class AcceptAny:
    def __call__(self, status: int, body: bytes) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class PredictionsPerRecord:
    """The invocations contract: a JSON object with one ``predictions`` entry per record."""

    records: int = 1

    def __call__(self, status: int, body: bytes) -> str | None:
        if not 200 <= status < 300:
            return None
        try:
            document = json.loads(body)
        except ValueError:
            return "invalid_body"
        predictions = document.get("predictions") if isinstance(document, dict) else None
        if not isinstance(predictions, list) or len(predictions) != self.records:
            return "invalid_body"
        return None
