"""A small logistic-regression model, vectorised over the records of one request."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.servers.endpoint.records import ENTITY_FIELD

__all__ = ["FEATURE_WIDTH", "HASHED_FIELDS", "NO_FEATURES", "LogisticModel"]

FEATURE_WIDTH = 8
HASHED_FIELDS = 8
# The store's features of a record when there is no feature store. Callers pass this very
# (immutable) object, so the model can recognise it and start such rows from a ready copy.
NO_FEATURES = (0.0,) * FEATURE_WIDTH
# Column of the constant 1.0 that the bias weighs, after the store and hashed-field columns.
_BIAS = FEATURE_WIDTH + HASHED_FIELDS
# The row of a record with no store features and no numeric fields; shorter store vectors are
# padded with its tail.
_BLANK_ROW = [0.0] * _BIAS + [1.0]
_INF = math.inf


class LogisticModel:
    """Scores records from their store features plus their own numeric fields.

    Record fields vary per caller, so they are folded into a fixed number of hashed buckets.
    """

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        weights = rng.normal(0.0, 1.0, FEATURE_WIDTH + HASHED_FIELDS)
        bias = float(rng.normal(0.0, 0.1))
        # The bias is the weight of a constant last column, so one product gives the logits;
        # negated (exactly) so that product is the -(x @ w + b) the sigmoid's exp takes.
        self._neg_weights = -np.append(weights, bias)

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
        # Each numpy call has a fixed cost that, for the one or few records of a typical
        # request, dwarfs its arithmetic; in a busy server, whose other work evicts numpy from
        # the CPU caches between requests, each distinct call costs several times more than in a
        # tight loop. So rows are assembled in plain lists and handed over whole, and numpy does
        # what grows with the records: the squashing, the product and the exponentials.
        x = np.array(list(map(_row, records, features)), dtype=np.float64)
        fields = x[:, FEATURE_WIDTH:_BIAS]
        np.tanh(fields, out=fields)
        exps: list[float] = np.exp(x.dot(self._neg_weights)).tolist()
        # The last step is per record anyway, as the floats are unboxed for the response; doing
        # it in that pass spares two more array calls and gives the same IEEE results.
        return [1.0 / (1.0 + e) for e in exps]


def _row(record: dict[str, Any], vector: Sequence[float]) -> list[float]:
    """The store's features, the record's hashed field sums (squashed later), then the 1.0 of
    the bias."""
    if vector is NO_FEATURES:
        row = _BLANK_ROW.copy()
    else:
        # The model has a fixed input width; a stub run with another --n-features is padded
        # or cut.
        row = list(vector[:FEATURE_WIDTH])
        row += _BLANK_ROW[len(row) :]
    for name, value in record.items():
        # Finite floats, the usual field, skip the general check: this loop runs per field.
        number = value if type(value) is float and -_INF < value < _INF else _numeric(value)
        # An identifier is not a signal; letting it in would make scores depend on key order.
        if number is not None and name != ENTITY_FIELD:
            bucket = _BUCKETS.get(name)
            row[FEATURE_WIDTH + (_bucket(name) if bucket is None else bucket)] += number
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
