"""Settings of one reference serving endpoint."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENRICHMENT", "FEATURE_STORE", "MIB", "UPSTREAM_NAMES", "EndpointConfig"]

MIB = 1024 * 1024
# The external APIs the reference endpoint knows how to call, by name.
FEATURE_STORE = "feature-store"
ENRICHMENT = "enrichment"
UPSTREAM_NAMES = (FEATURE_STORE, ENRICHMENT)
_OVERFLOW_STATUSES = (429, 503)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """How the endpoint listens, sizes and scales its concurrency and reaches its upstreams.

    `max_queue=None` means 10 x concurrency, the depth Knative allows per container.
    A zero timeout, limit, TTL or URL switches that behaviour off. `min_concurrency` and
    `max_concurrency` default to `concurrency`, which fixes the size and disables the scaler;
    the scaler's windows default to Knative's (60 s stable, 6 s panic at 200 %, 30 s grace to
    zero) and its reaction delay to Ray Serve's upscale_delay_s. `access_log` and `uvloop`
    shape only the process `serve` runs, not the app `make_app` builds.

    `llm` adds the OpenAI-compatible streaming routes (see `llm_routes`); its sequences have
    their own capacity (`max_sequences`, `kv_cache_tokens`, `llm_max_waiting`,
    `llm_queue_timeout_s`) apart from the scoring units, and its token model is set by
    `default_max_tokens`, `prefill_ms_per_token` and `decode_tokens_per_s`.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    name: str = "model"
    # (name, base URL) of each external API it calls: FEATURE_STORE per record, ENRICHMENT
    # once per request; an API not listed is not called.
    upstreams: tuple[tuple[str, str], ...] = ()
    auth_token: str = ""
    concurrency: int = 4
    max_queue: int | None = None
    overflow_status: int = 429
    retry_after_s: int = 1
    queue_timeout_s: float = 0.0
    request_timeout_s: float = 0.0
    max_qps: float = 0.0
    service_time_ms: float = 0.0
    per_record_ms: float = 0.0
    max_batch_size: int = 1
    max_batch_delay_ms: float = 0.0
    upstream_timeout_s: float = 2.0
    upstream_max_attempts: int = 3
    upstream_backoff_base_s: float = 0.05
    upstream_backoff_cap_s: float = 1.0
    retry_budget_tokens: float = 10.0
    retry_budget_ratio: float = 0.1
    cache_ttl_s: float = 0.0
    single_flight: bool = True
    min_concurrency: int | None = None
    max_concurrency: int | None = None
    scale_target: float = 1.0
    scale_stable_window_s: float = 60.0
    scale_panic_window_s: float = 6.0
    scale_panic_threshold: float = 2.0
    scale_reaction_delay_s: float = 30.0
    scale_provisioning_delay_s: float = 0.0
    scale_to_zero_idle_s: float = 30.0
    cold_start_s: float = 0.0
    max_payload_bytes: int = 16 * MIB
    seed: int = 0
    access_log: bool = False
    uvloop: bool = True
    llm: bool = False
    default_max_tokens: int = 64
    prefill_ms_per_token: float = 0.2
    decode_tokens_per_s: float = 50.0
    max_sequences: int = 8
    kv_cache_tokens: int = 16384
    llm_max_waiting: int = 64
    llm_queue_timeout_s: float = 0.0

    def __post_init__(self) -> None:
        for ok, expected, field in self._checks():
            if not ok:
                raise ValueError(f"expected {expected} but got {field}={getattr(self, field)!r}")

    def _checks(self) -> list[tuple[bool, str, str]]:
        lowest, highest = self.lowest_concurrency, self.highest_concurrency
        names = [name for name, _ in self.upstreams]
        checks = [
            (
                set(names) <= set(UPSTREAM_NAMES) and len(set(names)) == len(names),
                f"each of {list(UPSTREAM_NAMES)} at most once in",
                "upstreams",
            ),
            (0 <= self.port <= 65535, "a port in 0..65535", "port"),
            (bool(self.name) and "/" not in self.name, "a name without '/'", "name"),
            (self.concurrency >= 1, "concurrency >= 1", "concurrency"),
            (self.max_queue is None or self.max_queue >= 0, "max_queue >= 0 or None", "max_queue"),
            (self.overflow_status in _OVERFLOW_STATUSES, "429 or 503", "overflow_status"),
            (self.retry_after_s >= 0, "retry_after_s >= 0", "retry_after_s"),
            (self.max_batch_size >= 1, "max_batch_size >= 1", "max_batch_size"),
            (self.upstream_timeout_s > 0, "upstream_timeout_s > 0", "upstream_timeout_s"),
            (
                self.upstream_max_attempts >= 1,
                "upstream_max_attempts >= 1",
                "upstream_max_attempts",
            ),
            (self.retry_budget_ratio > 0, "retry_budget_ratio > 0", "retry_budget_ratio"),
            (
                self.min_concurrency is None or 0 <= lowest <= self.concurrency,
                "0 <= min_concurrency <= concurrency",
                "min_concurrency",
            ),
            (
                self.max_concurrency is None or highest >= self.concurrency,
                "max_concurrency >= concurrency",
                "max_concurrency",
            ),
            (self.scale_target > 0, "scale_target > 0", "scale_target"),
            (self.scale_stable_window_s > 0, "scale_stable_window_s > 0", "scale_stable_window_s"),
            (
                0 < self.scale_panic_window_s <= self.scale_stable_window_s,
                "0 < scale_panic_window_s <= scale_stable_window_s",
                "scale_panic_window_s",
            ),
            (self.scale_panic_threshold > 1, "scale_panic_threshold > 1", "scale_panic_threshold"),
            (self.max_payload_bytes >= 1, "max_payload_bytes >= 1", "max_payload_bytes"),
            (self.default_max_tokens >= 1, "default_max_tokens >= 1", "default_max_tokens"),
            (self.decode_tokens_per_s > 0, "decode_tokens_per_s > 0", "decode_tokens_per_s"),
            (self.max_sequences >= 1, "max_sequences >= 1", "max_sequences"),
        ]
        for field in _NON_NEGATIVE:
            checks.append((getattr(self, field) >= 0, f"{field} >= 0", field))
        return checks

    def upstream(self, name: str) -> str:
        """The base URL of upstream ``name``, or "" when the endpoint does not call it."""
        return dict(self.upstreams).get(name, "")

    def service_time_s(self, records: int) -> float:
        """Busy time of one model call: a fixed part per call plus a part per record, so many
        records per call (client-side or dynamic batching) cost less per prediction."""
        return (self.service_time_ms + self.per_record_ms * records) / 1000.0

    @property
    def queue_limit(self) -> int:
        """Requests allowed to wait for a unit before new ones are turned away."""
        return 10 * self.concurrency if self.max_queue is None else self.max_queue

    @property
    def lowest_concurrency(self) -> int:
        return self.concurrency if self.min_concurrency is None else self.min_concurrency

    @property
    def highest_concurrency(self) -> int:
        return self.concurrency if self.max_concurrency is None else self.max_concurrency

    @property
    def autoscaling(self) -> bool:
        """Whether units come and go at run time (a range to scale in, or a cold start)."""
        fixed = self.lowest_concurrency == self.highest_concurrency
        return not fixed or self.cold_start_s > 0


_NON_NEGATIVE = (
    "queue_timeout_s",
    "request_timeout_s",
    "max_qps",
    "service_time_ms",
    "per_record_ms",
    "max_batch_delay_ms",
    "upstream_backoff_base_s",
    "upstream_backoff_cap_s",
    "retry_budget_tokens",
    "cache_ttl_s",
    "scale_reaction_delay_s",
    "scale_provisioning_delay_s",
    "scale_to_zero_idle_s",
    "cold_start_s",
    "prefill_ms_per_token",
    "kv_cache_tokens",
    "llm_max_waiting",
    "llm_queue_timeout_s",
)
