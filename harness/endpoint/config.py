"""Settings of one reference serving endpoint."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
_OVERFLOW_STATUSES = (429, 503)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """How the endpoint listens, sizes its provisioned concurrency and reaches the feature store.

    `max_queue=None` means 10 x concurrency, the depth Knative allows per container.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    name: str = "model"
    feature_store_url: str = ""
    concurrency: int = 4
    max_queue: int | None = None
    overflow_status: int = 429
    retry_after_s: int = 1
    service_time_ms: float = 0.0
    per_record_ms: float = 0.0
    upstream_timeout_s: float = 2.0
    max_payload_bytes: int = 16 * MIB
    seed: int = 0

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str, str, object]] = [
            (0 <= self.port <= 65535, "a port in 0..65535", "port", self.port),
            (bool(self.name) and "/" not in self.name, "a name without '/'", "name", self.name),
            (self.concurrency >= 1, "concurrency >= 1", "concurrency", self.concurrency),
            (
                self.max_queue is None or self.max_queue >= 0,
                "max_queue >= 0 or None",
                "max_queue",
                self.max_queue,
            ),
            (
                self.overflow_status in _OVERFLOW_STATUSES,
                "overflow_status 429 or 503",
                "overflow_status",
                self.overflow_status,
            ),
            (self.retry_after_s >= 0, "retry_after_s >= 0", "retry_after_s", self.retry_after_s),
            (
                self.service_time_ms >= 0,
                "service_time_ms >= 0",
                "service_time_ms",
                self.service_time_ms,
            ),
            (self.per_record_ms >= 0, "per_record_ms >= 0", "per_record_ms", self.per_record_ms),
            (
                self.upstream_timeout_s > 0,
                "upstream_timeout_s > 0",
                "upstream_timeout_s",
                self.upstream_timeout_s,
            ),
            (
                self.max_payload_bytes >= 1,
                "max_payload_bytes >= 1",
                "max_payload_bytes",
                self.max_payload_bytes,
            ),
        ]
        for ok, expected, field, value in checks:
            if not ok:
                raise ValueError(f"expected {expected} but got {field}={value!r}")

    @property
    def queue_limit(self) -> int:
        """Requests allowed to wait for a unit before new ones are turned away."""
        return 10 * self.concurrency if self.max_queue is None else self.max_queue
