"""A retry budget in the manner of gRPC retry throttling, which tenacity does not provide.

Every retryable failure costs a token and every success earns back a fraction of one; retries
are allowed only while more than half the tokens remain. During an outage the failures drain
the bucket, so each caller's retries stop and the upstream sees about one call per request
instead of `max_attempts`.
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0:
            raise ValueError(f"expected max_tokens > 0 but got max_tokens={max_tokens}")
        if token_ratio <= 0:
            raise ValueError(f"expected token_ratio > 0 but got token_ratio={token_ratio}")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2

    def on_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1.0)

    def on_success(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)
