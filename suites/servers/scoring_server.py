"""A small scoring server of the kind a team writes itself, used by the shipped
own_server_dependencies scenario: it knows nothing of the harness and finds its two external
APIs the way such servers do, in its environment.

- FEATURES_API_URL: GET /v1/features/{entity_id} -> {"features": [floats]}; needed: without
  features there is no score, and the server answers 503.
- ENRICHMENT_API_URL: POST /v1/enrich {"entity_ids": [...]} -> {"boost": {id: float}};
  optional: when it fails or is slow, the server scores without it.

POST /invocations takes MLflow dataframe_records and answers one prediction per record;
GET /health answers when the server is up. It listens on 127.0.0.1:$PORT.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
from aiohttp import web

FEATURES = os.environ["FEATURES_API_URL"].rstrip("/")
ENRICHMENT = os.environ["ENRICHMENT_API_URL"].rstrip("/")
TIMEOUT = aiohttp.ClientTimeout(total=1.0)
HTTP = web.AppKey("http", aiohttp.ClientSession)


async def _features(session: aiohttp.ClientSession, entity: str) -> list[float]:
    async with session.get(f"{FEATURES}/v1/features/{entity}") as answer:
        answer.raise_for_status()
        body: dict[str, Any] = await answer.json()
        return [float(value) for value in body["features"]]


async def _boosts(session: aiohttp.ClientSession, entities: list[str]) -> dict[str, float]:
    try:
        async with session.post(f"{ENRICHMENT}/v1/enrich", json={"entity_ids": entities}) as answer:
            answer.raise_for_status()
            body: dict[str, Any] = await answer.json()
            return {key: float(value) for key, value in body.get("boost", {}).items()}
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        return {}


async def invocations(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        entities = [str(row["entity_id"]) for row in body["dataframe_records"]]
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected dataframe_records with entity_id"}, status=400)
    session = request.app[HTTP]
    lookups = asyncio.gather(*(_features(session, entity) for entity in entities))
    boosts = asyncio.ensure_future(_boosts(session, entities))
    try:
        vectors = await lookups
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        boosts.cancel()
        return web.json_response({"error": f"features unavailable: {exc}"}, status=503)
    boost = await boosts
    scored = zip(entities, vectors, strict=True)
    predictions = [sum(v) / len(v) + boost.get(e, 0.0) for e, v in scored]
    headers = {} if boost else {"X-Degraded": "enrichment"}
    return web.json_response({"predictions": predictions}, headers=headers)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _session(app: web.Application) -> Any:
    app[HTTP] = aiohttp.ClientSession(timeout=TIMEOUT)
    yield
    await app[HTTP].close()


def main() -> None:
    app = web.Application()
    app.cleanup_ctx.append(_session)
    app.router.add_post("/invocations", invocations)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
