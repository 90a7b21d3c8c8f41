"""Calls to one external API: a timeout per call, and tenacity retries with full jitter,
only on retryable failures and only while the target's retry budget allows."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)
from yarl import URL

from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.metrics import EndpointMetrics
from harness.servers.endpoint.retry_budget import RetryBudget

__all__ = ["RetryPolicy", "UpstreamClient", "UpstreamError"]


class UpstreamError(ApiError):
    """A failed upstream call; `retryable` marks failures another attempt might not repeat."""

    def __init__(self, status: int, message: str, *, retryable: bool) -> None:
        super().__init__(status, message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_attempts` calls; before attempt n+1 wait random(0, min(cap, base * 2^n))."""

    timeout_s: float = 2.0
    max_attempts: int = 3
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 1.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError(f"expected timeout_s > 0 but got timeout_s={self.timeout_s}")
        if self.max_attempts < 1:
            raise ValueError(f"expected max_attempts >= 1 but got max_attempts={self.max_attempts}")


class UpstreamClient:
    """GETs JSON documents from one target; every failure surfaces as an UpstreamError.

    502 for bad answers and connection failures, 504 when the last attempt timed out.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        target: str,
        policy: RetryPolicy,
        budget: RetryBudget | None,
        metrics: EndpointMetrics,
    ) -> None:
        self.target = target
        self._session = session
        self._policy = policy
        self._budget = budget
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout_s)

    async def get_json(self, url: str) -> object:
        policy = self._policy
        retrying = AsyncRetrying(
            stop=self._stop,
            # tenacity's random exponential wait is the full-jitter schedule.
            wait=wait_random_exponential(
                multiplier=policy.backoff_base_s, max=policy.backoff_cap_s
            ),
            retry=retry_if_exception(lambda exc: getattr(exc, "retryable", False)),
            before_sleep=self._count_retry,
            reraise=True,
        )
        return await retrying(self._attempt, url)

    async def _attempt(self, url: str) -> object:
        try:
            body = await self._call(url)
        except UpstreamError as exc:
            self._outcome(exc.retryable)
            raise
        self._outcome(None)
        return body

    async def _call(self, url: str) -> object:
        record = self._record
        try:
            async with self._session.get(URL(url, encoded=True), timeout=self._timeout) as resp:
                if resp.status != 200:
                    record(f"http_{resp.status // 100}xx")
                    retryable = resp.status == 429 or resp.status >= 500
                    message = f"{self.target} answered {resp.status} for GET {url}"
                    raise UpstreamError(502, message, retryable=retryable)
                body = await resp.json()
        except TimeoutError as exc:
            record("timeout")
            message = f"{self.target} did not answer within {self._policy.timeout_s}s for GET {url}"
            raise UpstreamError(504, message, retryable=True) from exc
        except aiohttp.ClientConnectionError as exc:
            record("error")
            message = f"{self.target} call GET {url} failed (caused by {exc!r})"
            raise UpstreamError(502, message, retryable=True) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            record("malformed")
            message = f"{self.target} sent an unreadable answer to GET {url} (caused by {exc!r})"
            raise UpstreamError(502, message, retryable=False) from exc
        record("ok")
        return body

    def _record(self, outcome: str) -> None:
        self._metrics.upstream_calls.labels(target=self.target, outcome=outcome).inc()
        if outcome != "ok":
            self._metrics.upstream_errors.labels(target=self.target).inc()

    def _outcome(self, retryable_failure: bool | None) -> None:
        if self._budget is None:
            return
        if retryable_failure is None:
            self._budget.on_success()
        elif retryable_failure:
            self._budget.on_failure()

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.max_attempts:
            return True
        if self._budget is None or self._budget.allows_retry():
            return False
        self._metrics.upstream_retries_throttled.labels(target=self.target).inc()
        return True

    def _count_retry(self, state: RetryCallState) -> None:
        self._metrics.upstream_retries.labels(target=self.target).inc()
