"""The endpoint's client for the feature store: one lookup per record over a shared session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from urllib.parse import quote

import aiohttp
from yarl import URL

from harness.endpoint.errors import ApiError
from harness.endpoint.model import FEATURE_WIDTH

TARGET = "feature-store"


class FeatureClient:
    """Fetches feature vectors; every failure becomes an ApiError (502, or 504 on timeout).

    `record` is told the outcome of every call (ok, timeout, http_4xx, http_5xx, error, malformed).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        base_url: str,
        *,
        timeout_s: float,
        record: Callable[[str], None],
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._record = record

    async def fetch_all(self, keys: Sequence[str]) -> list[list[float]]:
        """Features for every key, looked up concurrently; the first failure cancels the rest."""
        if self._session is None:
            return [[0.0] * FEATURE_WIDTH for _ in keys]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.fetch(key)) for key in keys]
        except BaseExceptionGroup as failures:
            api_errors = failures.subgroup(ApiError)
            if api_errors is None:
                raise
            first = api_errors.exceptions[0]
            raise first from first.__cause__
        return [task.result() for task in tasks]

    async def fetch(self, key: str) -> list[float]:
        if self._session is None:
            return [0.0] * FEATURE_WIDTH
        url = f"{self._base}/features/{quote(key, safe='')}"
        try:
            async with self._session.get(URL(url, encoded=True), timeout=self._timeout) as resp:
                if resp.status != 200:
                    self._record(f"http_{resp.status // 100}xx")
                    raise ApiError(502, f"feature store answered {resp.status} for GET {url}")
                body = await resp.json()
        except TimeoutError as exc:
            self._record("timeout")
            raise ApiError(
                504, f"feature store did not answer within {self._timeout_s}s for GET {url}"
            ) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            self._record("error")
            raise ApiError(502, f"feature store call GET {url} failed (caused by {exc!r})") from exc
        vector = _vector(body)
        if vector is None:
            self._record("malformed")
            raise ApiError(502, f"feature store sent no 'features' list of numbers for GET {url}")
        self._record("ok")
        return vector


def _vector(body: object) -> list[float] | None:
    values = body.get("features") if isinstance(body, dict) else None
    if not isinstance(values, list):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return [float(v) for v in values]
