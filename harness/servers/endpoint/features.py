"""Feature vectors by key from an external API (the feature store, or the enrichment API),
through the lookup cache and the retrying upstream client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import quote

from harness.servers.endpoint.cache import LookupCache
from harness.servers.endpoint.config import ENRICHMENT, FEATURE_STORE
from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.upstream import UpstreamClient, UpstreamError

__all__ = ["ENRICHMENT", "FEATURE_STORE", "VectorLookup"]


class VectorLookup:
    """GET {base_url}/{route}/{key} answers {"features": [numbers]}; failures are ApiErrors."""

    def __init__(
        self, client: UpstreamClient, base_url: str, route: str, cache: LookupCache[list[float]]
    ) -> None:
        self._client = client
        self._prefix = f"{base_url.rstrip('/')}/{route}/"
        self._cache = cache

    async def fetch_all(self, keys: Sequence[str]) -> list[list[float]]:
        """Vectors for every key, looked up concurrently; the first failure cancels the rest."""
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
        return await self._cache.get(key, lambda: self._load(key))

    async def _load(self, key: str) -> list[float]:
        url = self._prefix + quote(key, safe="")
        vector = _vector(await self._client.get_json(url))
        if vector is None:
            target = self._client.target
            message = f"{target} sent no 'features' list of numbers for GET {url}"
            raise UpstreamError(502, message, retryable=False)
        return vector


def _vector(body: object) -> list[float] | None:
    values = body.get("features") if isinstance(body, dict) else None
    if not isinstance(values, list):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return [float(v) for v in values]
