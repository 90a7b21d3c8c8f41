"""The reference endpoint as an aiohttp application, shaped like an MLflow/Databricks endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata

import aiohttp
from aiohttp import web

from harness.endpoint.admission import Admission, QueueFull
from harness.endpoint.config import EndpointConfig
from harness.endpoint.errors import ApiError
from harness.endpoint.features import TARGET, FeatureClient
from harness.endpoint.metrics import CLIENT_CLOSED, METRICS_CONTENT_TYPE, EndpointMetrics
from harness.endpoint.model import LogisticModel
from harness.endpoint.records import Record, entity_key, parse_records


@dataclass(slots=True)
class _Endpoint:
    config: EndpointConfig
    admission: Admission
    metrics: EndpointMetrics
    model: LogisticModel
    version: str
    features: FeatureClient | None = None


_ENDPOINT = web.AppKey("endpoint", _Endpoint)


def make_app(config: EndpointConfig) -> web.Application:
    """Build the endpoint with its own metrics registry, admission queue and model.

    Run it with handler cancellation on (as `serve` and aiohttp's TestServer do) so a client
    that disconnects gives its unit or queue place back at once.
    """
    admission = Admission(config.concurrency, config.queue_limit)
    # aiohttp enforces client_max_size while reading, so a chunked body is never read whole.
    app = web.Application(client_max_size=config.max_payload_bytes)
    app[_ENDPOINT] = _Endpoint(
        config=config,
        admission=admission,
        metrics=EndpointMetrics(admission),
        model=LogisticModel(config.seed),
        version=_version(),
    )
    app.cleanup_ctx.append(_upstream_session)
    app.router.add_post("/serving-endpoints/{name}/invocations", _invocations)
    app.router.add_post("/invocations", _invocations)
    app.router.add_get("/ping", _health)
    app.router.add_get("/health", _health)
    app.router.add_get("/version", _version_handler)
    app.router.add_get("/metrics", _metrics)
    return app


def serve(config: EndpointConfig) -> None:
    """Run the endpoint until SIGINT or SIGTERM, then shut down cleanly."""
    web.run_app(
        make_app(config),
        host=config.host,
        port=config.port,
        print=None,
        handler_cancellation=True,
        shutdown_timeout=5.0,
    )


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[_ENDPOINT]
    config = endpoint.config
    metrics = endpoint.metrics

    def record(outcome: str) -> None:
        metrics.upstream_calls.labels(target=TARGET, outcome=outcome).inc()

    # One pooled keep-alive session for the app's lifetime, as a production server would hold.
    session = aiohttp.ClientSession() if config.feature_store_url else None
    endpoint.features = FeatureClient(
        session, config.feature_store_url, timeout_s=config.upstream_timeout_s, record=record
    )
    try:
        yield
    finally:
        endpoint.features = None
        if session is not None:
            await session.close()


async def _invocations(request: web.Request) -> web.Response:
    endpoint = request.app[_ENDPOINT]
    started = time.perf_counter()
    status = 500
    try:
        response = await _invoke(request, endpoint)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        endpoint.metrics.observe(status, time.perf_counter() - started)


async def _invoke(request: web.Request, endpoint: _Endpoint) -> web.Response:
    try:
        name = request.match_info.get("name")
        if name is not None and name != endpoint.config.name:
            raise ApiError(404, f"expected endpoint name={endpoint.config.name!r} but got {name=}")
        records = await _read_records(request, endpoint.config)
        predictions = await _predict(endpoint, records)
    except ApiError as err:
        return web.json_response(err.body(), status=err.status, headers=err.headers)
    return web.json_response({"predictions": predictions})


async def _read_records(request: web.Request, config: EndpointConfig) -> list[Record]:
    if request.content_type != "application/json":
        raise ApiError(
            415, f"expected Content-Type application/json but got {request.content_type!r}"
        )
    limit = config.max_payload_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"expected a body of at most {limit} bytes but got {length=}")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, f"expected a body of at most {limit} bytes") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from exc
    return parse_records(payload)


async def _predict(endpoint: _Endpoint, records: list[Record]) -> list[float]:
    config = endpoint.config
    arrived = time.perf_counter()
    try:
        async with endpoint.admission.unit():
            endpoint.metrics.queue_time.observe(time.perf_counter() - arrived)
            return await _run_unit(endpoint, records)
    except QueueFull:
        raise ApiError(
            config.overflow_status,
            f"all {config.concurrency} units busy and {config.queue_limit} requests queued",
            headers={"Retry-After": str(config.retry_after_s)},
        ) from None


async def _run_unit(endpoint: _Endpoint, records: list[Record]) -> list[float]:
    """The work one unit does for a request: lookups, scoring, and the configured busy time."""
    config = endpoint.config
    features = endpoint.features
    if features is None:
        raise ApiError(503, "endpoint is not ready")
    vectors = await features.fetch_all([entity_key(record) for record in records])
    predictions = endpoint.model.predict(records, vectors)
    busy_ms = config.service_time_ms + config.per_record_ms * len(records)
    if busy_ms > 0:
        # Sleeping, not spinning, keeps the loop free: this models a busy unit, not a busy CPU.
        await asyncio.sleep(busy_ms / 1000.0)
    return predictions


async def _health(request: web.Request) -> web.Response:
    if request.app[_ENDPOINT].features is None:
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ok"})


async def _version_handler(request: web.Request) -> web.Response:
    return web.json_response({"version": request.app[_ENDPOINT].version})


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_ENDPOINT].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


def _version() -> str:
    try:
        return metadata.version("serving-chaos")
    except metadata.PackageNotFoundError:
        return "unknown"
