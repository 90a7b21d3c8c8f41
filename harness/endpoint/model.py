"""A small logistic-regression model, vectorised over the records of one request."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.endpoint.records import ENTITY_FIELD

FEATURE_WIDTH = 8
HASHED_FIELDS = 8


class LogisticModel:
    """Scores records from their store features plus their own numeric fields.

    Record fields vary per caller, so they are folded into a fixed number of hashed buckets.
    """

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        weights = rng.normal(0.0, 1.0, FEATURE_WIDTH + HASHED_FIELDS)
        bias = float(rng.normal(0.0, 0.1))
        # Negation is exact, so x @ -w - b is bit for bit -(x @ w + b): the sigmoid's exp can
        # take it as it comes, one array operation fewer per call.
        self._neg_weights = -weights
        self._neg_bias = -bias

    def predict(
        self, records: Sequence[dict[str, Any]], features: Sequence[Sequence[float]]
    ) -> list[float]:
        """One probability per record; `features[i]` are the store's features for `records[i]`."""
        if len(records) != len(features):
            raise ValueError(
                f"expected one feature vector per record but got records={len(records)} "
                f"features={len(features)}"
            )
        if not records:
            return []
        # Rows are built in plain lists and handed to numpy whole. Each numpy call has a fixed
        # cost that, for the one or few records of a typical request, dwarfs its arithmetic.
        fields = np.tanh(np.array([_field_row(record) for record in records], dtype=np.float64))
        squashed: list[list[float]] = fields.tolist()
        rows = [_store_row(v) + f for v, f in zip(features, squashed, strict=True)]
        x = np.array(rows, dtype=np.float64)
        neg_logits = x @ self._neg_weights + self._neg_bias
        scores: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(neg_logits))
        predictions: list[float] = scores.tolist()
        return predictions


def _store_row(vector: Sequence[float]) -> list[float]:
    # The model has a fixed input width; a stub run with another --n-features is padded or cut.
    head = list(vector)[:FEATURE_WIDTH]
    return head + [0.0] * (FEATURE_WIDTH - len(head))


def _field_row(record: dict[str, Any]) -> list[float]:
    # Raw field values can be large; the caller squashes the sums into a useful range.
    row = [0.0] * HASHED_FIELDS
    for name, value in record.items():
        number = _numeric(value)
        # An identifier is not a signal; letting it in would make scores depend on key order.
        if number is not None and name != ENTITY_FIELD:
            row[_bucket(name)] += number
    return row


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# Field names come from callers, so the memo of their buckets is bounded.
_BUCKETS: dict[str, int] = {}
_MAX_MEMO = 4096


def _bucket(name: str) -> int:
    bucket = _BUCKETS.get(name)
    if bucket is None:
        bucket = hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % HASHED_FIELDS
        if len(_BUCKETS) < _MAX_MEMO:
            _BUCKETS[name] = bucket
    return bucket
