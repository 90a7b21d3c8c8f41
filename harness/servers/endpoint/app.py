"""The reference endpoint as an aiohttp application, shaped like an MLflow/Databricks endpoint."""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import metadata

import aiohttp
from aiohttp import web

from harness.servers.endpoint.admission import Admission, QueueFull, QueueTimeout
from harness.servers.endpoint.autoscaler import Autoscaler
from harness.servers.endpoint.batching import Batcher
from harness.servers.endpoint.cache import LookupCache
from harness.servers.endpoint.config import EndpointConfig
from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.features import ENRICHMENT, FEATURE_STORE, VectorLookup
from harness.servers.endpoint.llm_routes import LlmRoutes
from harness.servers.endpoint.metrics import METRICS_CONTENT_TYPE, EndpointMetrics
from harness.servers.endpoint.model import NO_FEATURES, LogisticModel
from harness.servers.endpoint.ratelimit import TokenBucket
from harness.servers.endpoint.records import Record, entity_key, parse_records
from harness.servers.endpoint.responses import predictions_response
from harness.servers.endpoint.retry_budget import RetryBudget
from harness.servers.endpoint.upstream import RetryPolicy, UpstreamClient
from harness.servers.serve import run_server

__all__ = ["make_app", "serve"]


@dataclass(slots=True)
class _Endpoint:
    config: EndpointConfig
    admission: Admission
    scaler: Autoscaler
    metrics: EndpointMetrics
    model: LogisticModel
    version: str
    front_door: TokenBucket | None = None
    batcher: Batcher | None = None
    features: VectorLookup | None = None
    enrichment: VectorLookup | None = None
    started: bool = False
    # Whether a model call also holds its unit for a configured service time.
    busy: bool = False


_ENDPOINT = web.AppKey("endpoint", _Endpoint)


def make_app(config: EndpointConfig) -> web.Application:
    """Build the endpoint with its own metrics registry, admission queue, scaler and model.

    Run it with handler cancellation on (as `serve` and aiohttp's TestServer do) so a client
    that disconnects gives its unit or queue place back at once.
    """
    # With dynamic batching a unit takes a batch's worth of requests at once, as Ray Serve
    # needs max_ongoing_requests >= max_batch_size for its batches to fill.
    slots = config.max_batch_size
    admission = Admission(
        config.concurrency * slots, config.queue_limit, queue_timeout_s=config.queue_timeout_s
    )
    metrics = EndpointMetrics(admission)
    scaler = Autoscaler(
        config,
        now=time.monotonic(),
        load=lambda: admission.inflight + admission.queued,
        resize=admission.resize,
        slots_per_unit=slots,
        on_event=lambda direction: metrics.scale_events.labels(direction=direction).inc(),
    )
    metrics.watch(scaler)
    endpoint = _Endpoint(
        config=config,
        admission=admission,
        scaler=scaler,
        metrics=metrics,
        model=LogisticModel(config.seed),
        version=_version(),
        busy=config.service_time_ms > 0 or config.per_record_ms > 0,
    )
    if config.max_qps > 0:
        endpoint.front_door = TokenBucket(config.max_qps)
    if config.max_batch_size > 1:
        delay_s = config.max_batch_delay_ms / 1000.0
        endpoint.batcher = Batcher(config.max_batch_size, delay_s, partial(_score, endpoint))
    # aiohttp enforces client_max_size while reading, so a chunked body is never read whole.
    app = web.Application(client_max_size=config.max_payload_bytes)
    app[_ENDPOINT] = endpoint
    app.cleanup_ctx.append(_upstreams)
    app.cleanup_ctx.append(_scaling)
    if config.llm:
        llm = LlmRoutes(config, metrics, guard=partial(_guard, endpoint), fallback=_invocations)
        llm.add_routes(app.router)
        # Databricks takes chat and completion payloads at the endpoint's own route too, and
        # so does /invocations here (where a scenario's load goes).
        app.router.add_post("/serving-endpoints/{name}/invocations", llm.invocations)
        app.router.add_post("/invocations", llm.invocations)
    else:
        app.router.add_post("/serving-endpoints/{name}/invocations", _invocations)
        app.router.add_post("/invocations", _invocations)
    app.router.add_get("/ping", _ping)
    app.router.add_get("/health", _health)
    app.router.add_get("/version", _version_handler)
    app.router.add_get("/metrics", _metrics)
    return app


def serve(config: EndpointConfig) -> None:
    """Run the endpoint until SIGINT or SIGTERM, then shut down cleanly."""
    run_server(
        make_app(config),
        host=config.host,
        port=config.port,
        access_log=config.access_log,
        use_uvloop=config.uvloop,
    )


async def _upstreams(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[_ENDPOINT]
    config = endpoint.config
    session = None
    if config.upstreams:
        # One pooled keep-alive session for the app's lifetime, as a production server holds.
        session = aiohttp.ClientSession()
        if config.upstream(FEATURE_STORE):
            endpoint.features = _lookup(
                session, endpoint, FEATURE_STORE, config.upstream(FEATURE_STORE), "features"
            )
        if config.upstream(ENRICHMENT):
            endpoint.enrichment = _lookup(
                session, endpoint, ENRICHMENT, config.upstream(ENRICHMENT), "enrich"
            )
    endpoint.started = True
    try:
        yield
    finally:
        endpoint.started = False
        endpoint.features = endpoint.enrichment = None
        if session is not None:
            await session.close()


def _lookup(
    session: aiohttp.ClientSession, endpoint: _Endpoint, target: str, url: str, route: str
) -> VectorLookup:
    """One external API as the endpoint reaches it: retrying client, budget and cache."""
    config = endpoint.config
    policy = RetryPolicy(
        timeout_s=config.upstream_timeout_s,
        max_attempts=config.upstream_max_attempts,
        backoff_base_s=config.upstream_backoff_base_s,
        backoff_cap_s=config.upstream_backoff_cap_s,
    )
    budget = None
    if config.retry_budget_tokens > 0:
        budget = RetryBudget(config.retry_budget_tokens, config.retry_budget_ratio)
    client = UpstreamClient(
        session, target=target, policy=policy, budget=budget, metrics=endpoint.metrics
    )
    cache: LookupCache[list[float]] = LookupCache(
        ttl_s=config.cache_ttl_s,
        single_flight=config.single_flight,
        record=partial(endpoint.metrics.cache_event, target),
    )
    return VectorLookup(client, url, route, cache)


async def _scaling(app: web.Application) -> AsyncIterator[None]:
    endpoint = app[_ENDPOINT]
    task = (
        asyncio.create_task(_scale_loop(endpoint.scaler)) if endpoint.config.autoscaling else None
    )
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _scale_loop(scaler: Autoscaler) -> None:
    while True:
        scaler.tick(time.monotonic())
        await asyncio.sleep(scaler.next_tick_s(time.monotonic()))


async def _invocations(request: web.Request) -> web.Response:
    endpoint = request.app[_ENDPOINT]
    with endpoint.metrics.invocation() as call:
        try:
            _authorize(request, endpoint)
            _front_door(endpoint)
            if endpoint.config.request_timeout_s > 0:
                predictions = await _within_deadline(request, endpoint)
            else:
                # No deadline, no timer: arming one per request is a cost the loop would pay.
                predictions = await _handle(request, endpoint)
            response = predictions_response(predictions)
        except ApiError as err:
            response = web.json_response(err.body(), status=err.status, headers=err.headers)
        call.status = response.status
        return response


async def _within_deadline(request: web.Request, endpoint: _Endpoint) -> list[float]:
    limit_s = endpoint.config.request_timeout_s
    deadline = asyncio.timeout(limit_s)
    try:
        async with deadline:
            return await _handle(request, endpoint)
    except TimeoutError:
        if not deadline.expired():
            raise
        endpoint.metrics.reject("deadline")
        raise ApiError(
            504,
            f"request did not finish within request_timeout_s={limit_s}",
            error_code="DEADLINE_EXCEEDED",
        ) from None


def _guard(endpoint: _Endpoint, request: web.Request) -> None:
    """The checks every request passes before its body matters: caller, then rate."""
    _authorize(request, endpoint)
    _front_door(endpoint)


def _authorize(request: web.Request, endpoint: _Endpoint) -> None:
    token = endpoint.config.auth_token
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        endpoint.metrics.reject("unauthenticated")
        raise ApiError(401, "expected an 'Authorization: Bearer <token>' header")
    # A constant-time comparison, as a real server must not leak the token through timing.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        endpoint.metrics.reject("forbidden")
        raise ApiError(403, "the bearer token is not valid for this endpoint")


def _front_door(endpoint: _Endpoint) -> None:
    bucket = endpoint.front_door
    if bucket is None:
        return
    wait_s = bucket.take()
    if wait_s > 0:
        endpoint.metrics.reject("qps_limit")
        raise ApiError(
            429,
            f"endpoint QPS limit of {bucket.rate:g} exceeded",
            headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
        )


async def _handle(request: web.Request, endpoint: _Endpoint) -> list[float]:
    config = endpoint.config
    name = request.match_info.get("name")
    if name is not None and name != config.name:
        raise ApiError(404, f"expected endpoint name={config.name!r} but got {name=}")
    _check_body(request, config)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, f"expected a body of at most {config.max_payload_bytes} bytes") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from exc
    return await _predict(endpoint, parse_records(payload))


def _check_body(request: web.Request, config: EndpointConfig) -> None:
    """Turn a body away by its headers, before any of it is read."""
    # The header as clients usually send it needs no parsing; anything else (parameters,
    # other case) goes through aiohttp's parser.
    raw_type = request.headers.get("Content-Type")
    if raw_type != "application/json" and request.content_type != "application/json":
        raise ApiError(
            415, f"expected Content-Type application/json but got {request.content_type!r}"
        )
    limit = config.max_payload_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"expected a body of at most {limit} bytes but got {length=}")


async def _predict(endpoint: _Endpoint, records: list[Record]) -> list[float]:
    """Hold a unit for the request and do the unit's work: lookups, then scoring (alone or in
    a batch).

    The steps run inline rather than as coroutines of their own: on a cheap request each
    coroutine layer is a measurable share of the endpoint's cost.
    """
    admission = endpoint.admission
    # A free unit is taken without the queue's machinery (or its clock), which only a wait
    # needs.
    waited_s = 0.0
    if not admission.try_enter():
        arrived = time.perf_counter()
        await _queue(endpoint)
        waited_s = time.perf_counter() - arrived
    try:
        endpoint.metrics.queue_time.observe(waited_s)
        if not endpoint.started:
            raise ApiError(503, "endpoint is not ready")
        if endpoint.features is None and endpoint.enrichment is None:
            # Keys are only for the upstreams; hashing every record for nobody is pure cost.
            vectors: Sequence[Sequence[float]] = [NO_FEATURES] * len(records)
        else:
            vectors = await _lookups(endpoint, records)
        if endpoint.batcher is not None:
            return await endpoint.batcher.submit(records, vectors)
        if endpoint.busy:
            return await _score(endpoint, records, vectors)
        return _model(endpoint, records, vectors)
    finally:
        admission.leave()


async def _queue(endpoint: _Endpoint) -> None:
    """Wait for a unit, or turn the caller away when the queue is full or too slow."""
    config = endpoint.config
    retry_after = {"Retry-After": str(config.retry_after_s)}
    try:
        await endpoint.admission.enter()
    except QueueFull:
        endpoint.metrics.reject("queue_full")
        raise ApiError(
            config.overflow_status,
            f"all {endpoint.scaler.ready} units busy and {config.queue_limit} requests queued",
            headers=retry_after,
        ) from None
    except QueueTimeout:
        endpoint.metrics.reject("queue_timeout")
        raise ApiError(
            503,
            f"waited longer than queue_timeout_s={config.queue_timeout_s} for a unit",
            headers=retry_after,
        ) from None


async def _lookups(endpoint: _Endpoint, records: list[Record]) -> Sequence[Sequence[float]]:
    features, enrichment = endpoint.features, endpoint.enrichment
    keys = [entity_key(record) for record in records]
    vectors: Sequence[Sequence[float]] = [NO_FEATURES] * len(keys)
    if features is not None:
        vectors = await features.fetch_all(keys)
    if enrichment is not None:
        # One call per request, keyed by the request's first record, as a per-request context.
        context = await enrichment.fetch(keys[0] if keys else endpoint.config.name)
        vectors = [[a + b for a, b in zip(v, context, strict=False)] for v in vectors]
    return vectors


async def _score(
    endpoint: _Endpoint, records: list[Record], vectors: Sequence[Sequence[float]]
) -> list[float]:
    predictions = _model(endpoint, records, vectors)
    busy_s = endpoint.config.service_time_s(len(records))
    if busy_s > 0:
        # Sleeping, not spinning, keeps the loop free: this models a busy unit, not a busy CPU.
        await asyncio.sleep(busy_s)
    return predictions


def _model(
    endpoint: _Endpoint, records: list[Record], vectors: Sequence[Sequence[float]]
) -> list[float]:
    endpoint.metrics.batch_size.observe(len(records))
    return endpoint.model.predict(records, vectors)


async def _ping(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _health(request: web.Request) -> web.Response:
    endpoint = request.app[_ENDPOINT]
    if not endpoint.started:
        return web.json_response({"status": "starting"}, status=503)
    if endpoint.scaler.ready == 0:
        status = "cold" if endpoint.scaler.target > 0 else "scaled to zero"
        return web.json_response({"status": status}, status=503)
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
