"""Reference model-serving endpoint: MLflow scoring protocol, provisioned concurrency with a
bounded queue and an autoscaler, front-door limits, feature-store and enrichment lookups with
retries, a retry budget and a cache, dynamic batching, and Databricks-style metrics."""

from harness.endpoint.admission import Admission, QueueFull, QueueTimeout
from harness.endpoint.app import make_app, serve
from harness.endpoint.autoscaler import Autoscaler
from harness.endpoint.batching import Batcher
from harness.endpoint.cache import LookupCache
from harness.endpoint.cli import add_arguments, config_from_args, config_to_argv
from harness.endpoint.config import EndpointConfig
from harness.endpoint.errors import ApiError
from harness.endpoint.model import LogisticModel
from harness.endpoint.ratelimit import TokenBucket
from harness.endpoint.records import FORMATS, entity_key, parse_records
from harness.endpoint.retry_budget import RetryBudget
from harness.endpoint.upstream import RetryPolicy, UpstreamError

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
    "TokenBucket",
    "UpstreamError",
    "add_arguments",
    "config_from_args",
    "config_to_argv",
    "entity_key",
    "make_app",
    "parse_records",
    "serve",
]
