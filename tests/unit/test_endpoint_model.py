"""The endpoint's model against a plain per-record reading of its definition."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from harness.servers.endpoint import LogisticModel
from harness.servers.endpoint.model import NO_FEATURES

WIDTH = 8
BUCKETS = 8


def _reference(
    seed: int, records: Sequence[dict[str, Any]], features: Sequence[Sequence[float]]
) -> list[float]:
    """One record at a time, in Python floats: store features cut or padded to the width, each
    numeric non-identifier field summed into its name's bucket and squashed with tanh, then the
    logistic of the weighted sum plus the bias."""
    rng = np.random.default_rng(seed)
    weights = [float(w) for w in rng.normal(0.0, 1.0, WIDTH + BUCKETS)]
    bias = float(rng.normal(0.0, 0.1))
    scores = []
    for record, vector in zip(records, features, strict=True):
        store = [float(v) for v in vector[:WIDTH]]
        store += [0.0] * (WIDTH - len(store))
        sums = [0.0] * BUCKETS
        for name, value in record.items():
            if name == "entity_id" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            bucket = hashlib.blake2b(name.encode(), digest_size=2).digest()[0] % BUCKETS
            sums[bucket] += float(value)
        inputs = store + [math.tanh(s) for s in sums]
        logit = sum(w * x for w, x in zip(weights, inputs, strict=True)) + bias
        scores.append(1.0 / (1.0 + math.exp(-logit)))
    return scores


def _batch(rng: np.random.Generator, size: int) -> tuple[list[dict[str, Any]], list[list[float]]]:
    names = ["a", "b", "price", "qty", "0", "1", "2", "flag", "label"]
    records = []
    for i in range(size):
        record: dict[str, Any] = {"entity_id": i}
        for name in rng.choice(names, size=int(rng.integers(0, len(names))), replace=False):
            kind = int(rng.integers(4))
            if kind == 0:
                record[str(name)] = float(rng.normal(0.0, 3.0))
            elif kind == 1:
                record[str(name)] = int(rng.integers(-50, 50))
            elif kind == 2:
                record[str(name)] = bool(rng.integers(2))
            else:
                record[str(name)] = "text"
        records.append(record)
    # Store vectors of other widths are cut or padded, as with a stub run at another width.
    features = [list(rng.normal(0.0, 1.0, int(rng.integers(0, 12)))) for _ in range(size)]
    return records, features


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_predictions_match_the_reference_on_random_batches(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    model = LogisticModel(seed)
    for size in (1, 2, 3, 4, 5, 8, 17, 64, 300):
        records, features = _batch(rng, size)
        got = model.predict(records, features)
        want = _reference(seed, records, features)
        assert len(got) == size
        assert all(isinstance(p, float) for p in got)
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= 1e-12


def test_predictions_are_a_function_of_the_inputs_only() -> None:
    records, features = _batch(np.random.default_rng(3), 50)
    first = LogisticModel(4).predict(records, features)
    # Another instance, and calls in between with other sizes, change nothing.
    LogisticModel(4).predict(records[:7], features[:7])
    assert LogisticModel(4).predict(records, features) == first
    assert records == _batch(np.random.default_rng(3), 50)[0]


def test_the_shared_no_features_vector_scores_as_zeros() -> None:
    records, _ = _batch(np.random.default_rng(9), 20)
    model = LogisticModel(2)
    got = model.predict(records, [NO_FEATURES] * 20)
    assert got == model.predict(records, [[0.0] * WIDTH] * 20)
    want = _reference(2, records, [[0.0] * WIDTH] * 20)
    assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= 1e-12
