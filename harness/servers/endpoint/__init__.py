"""Reference model-serving endpoint: MLflow scoring protocol, provisioned concurrency with a
bounded queue and an autoscaler, front-door limits, feature-store and enrichment lookups with
retries, a retry budget and a cache, dynamic batching, and Databricks-style metrics; with `llm`
on, also OpenAI-compatible streaming chat and completions over a sequence scheduler."""

from harness.servers.endpoint.admission import Admission, QueueFull, QueueTimeout
from harness.servers.endpoint.app import make_app, serve
from harness.servers.endpoint.autoscaler import Autoscaler
from harness.servers.endpoint.batching import Batcher
from harness.servers.endpoint.cache import LookupCache
from harness.servers.endpoint.cli import add_arguments, config_from_args, config_to_argv
from harness.servers.endpoint.config import EndpointConfig
from harness.servers.endpoint.errors import ApiError
from harness.servers.endpoint.llm import TokenModel, count_tokens
from harness.servers.endpoint.llm_scheduler import (
    SequenceScheduler,
    SequencesFull,
    SequenceWaitTimeout,
)
from harness.servers.endpoint.model import LogisticModel
from harness.servers.endpoint.ratelimit import TokenBucket
from harness.servers.endpoint.records import FORMATS, entity_key, parse_records
from harness.servers.endpoint.retry_budget import RetryBudget
from harness.servers.endpoint.upstream import RetryPolicy, UpstreamError

__all__ = [
    "FORMATS",
    "Admission",
    "ApiError",
    "Autoscaler",
    "Batcher",
    "EndpointConfig",
    "LogisticModel",
    "LookupCache",
    "QueueFull",
    "QueueTimeout",
    "RetryBudget",
    "RetryPolicy",
    "SequenceScheduler",
    "SequenceWaitTimeout",
    "SequencesFull",
    "TokenBucket",
    "TokenModel",
    "UpstreamError",
    "add_arguments",
    "config_from_args",
    "config_to_argv",
    "count_tokens",
    "entity_key",
    "make_app",
    "parse_records",
    "serve",
]
