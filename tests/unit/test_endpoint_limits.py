"""The reference endpoint's QPS limit as a token bucket on a fake clock. The limits over HTTP are
in the integration tier's test_endpoint_limits."""

from __future__ import annotations

import pytest

from harness.servers.endpoint import TokenBucket


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(2)] == [0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0.0
    assert bucket.take() > 0
    now[0] = 10.0
    # Idle time refills only up to the burst.
    assert [bucket.take() for _ in range(3)][:2] == [0.0, 0.0]
