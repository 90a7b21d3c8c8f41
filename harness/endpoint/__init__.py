"""Reference model-serving endpoint: MLflow scoring protocol, provisioned concurrency with a
bounded queue, feature-store lookups per record, and Databricks-style metrics."""

from harness.endpoint.admission import Admission, QueueFull
from harness.endpoint.app import make_app, serve
from harness.endpoint.cli import add_arguments, config_from_args
from harness.endpoint.config import EndpointConfig
from harness.endpoint.errors import ApiError
from harness.endpoint.model import LogisticModel
from harness.endpoint.records import FORMATS, entity_key, parse_records

__all__ = [
    "FORMATS",
    "Admission",
    "ApiError",
    "EndpointConfig",
    "LogisticModel",
    "QueueFull",
    "add_arguments",
    "config_from_args",
    "entity_key",
    "make_app",
    "parse_records",
    "serve",
]
