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
        self._weights = rng.normal(0.0, 1.0, FEATURE_WIDTH + HASHED_FIELDS)
        self._bias = float(rng.normal(0.0, 0.1))

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
        x = np.hstack([_store_matrix(features), _field_matrix(records)])
        logits = x @ self._weights + self._bias
        scores: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits))
        return [float(s) for s in scores]


def _store_matrix(features: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    # The model has a fixed input width; a stub run with another --n-features is padded or cut.
    out = np.zeros((len(features), FEATURE_WIDTH))
    for i, vector in enumerate(features):
        head = list(vector)[:FEATURE_WIDTH]
        out[i, : len(head)] = head
    return out


def _field_matrix(records: Sequence[dict[str, Any]]) -> npt.NDArray[np.float64]:
    out = np.zeros((len(records), HASHED_FIELDS))
    for i, record in enumerate(records):
        for name, value in record.items():
            number = _numeric(value)
            # An identifier is not a signal; letting it in would make scores depend on key order.
            if number is not None and name != ENTITY_FIELD:
                out[i, _bucket(name)] += number
    # Raw field values can be large; squashing keeps the logits in a useful range.
    return np.tanh(out)


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _bucket(name: str) -> int:
    return hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % HASHED_FIELDS
