"""Command-line flags of `serving-chaos endpoint`, and the way back from a config to flags."""

from __future__ import annotations

import argparse
from dataclasses import fields

from harness.servers.endpoint.config import ENRICHMENT, FEATURE_STORE, EndpointConfig

__all__ = ["add_arguments", "config_from_args", "config_to_argv"]

_DEFAULTS = EndpointConfig()
# config field -> flag, where the flag's name is not the field's.
_FLAG_NAMES = {"retry_after_s": "retry-after", "upstream_timeout_s": "upstream-timeout"}
# Field order is the order of --help; every field of EndpointConfig has exactly one flag.
_HELP = {
    "host": "address to bind",
    "port": "port to bind",
    "name": "endpoint name in /serving-endpoints/NAME/invocations",
    "upstreams": "NAME=URL of an external API it calls, repeatable: feature-store (one lookup "
    "per record) or enrichment (one call per request); an API not given is not called",
    "auth_token": "bearer token callers must send; empty accepts anyone",
    "concurrency": "provisioned units at start",
    "max_queue": "requests allowed to wait (default 10 x concurrency)",
    "overflow_status": "status when the queue is full",
    "retry_after_s": "Retry-After seconds on 429/503",
    "queue_timeout_s": "longest wait for a unit before 503; 0 waits forever",
    "request_timeout_s": "deadline of a whole request before 504; 0 is none",
    "max_qps": "front-door requests per second before 429; 0 is unlimited",
    "service_time_ms": "busy time per model call",
    "per_record_ms": "extra busy time per record",
    "max_batch_size": "requests per model call under dynamic batching; 1 is off",
    "max_batch_delay_ms": "longest wait for a dynamic batch to fill",
    "upstream_timeout_s": "seconds per external call",
    "upstream_max_attempts": "attempts per external call, first one included",
    "upstream_backoff_base_s": "full-jitter backoff base",
    "upstream_backoff_cap_s": "full-jitter backoff cap",
    "retry_budget_tokens": "retry budget size per target; 0 turns the budget off",
    "retry_budget_ratio": "tokens a success earns back",
    "cache_ttl_s": "seconds an external answer is reused; 0 turns the cache off",
    "single_flight": "with the cache on, concurrent misses for a key share one call",
    "min_concurrency": "fewest units the scaler keeps; 0 allows scale-to-zero",
    "max_concurrency": "most units the scaler provisions",
    "scale_target": "in-flight plus queued requests per unit the scaler aims at",
    "scale_stable_window_s": "averaging window of the scaler",
    "scale_panic_window_s": "short window that detects surges",
    "scale_panic_threshold": "panic when the short window wants this x the ready units",
    "scale_reaction_delay_s": "how long a wish to rescale must hold before acting on it",
    "scale_provisioning_delay_s": "time before an added unit serves",
    "scale_to_zero_idle_s": "idle time before scaling to zero (with min 0)",
    "cold_start_s": "time before the first unit serves, at start and after zero",
    "max_payload_bytes": "largest request body accepted",
    "seed": "seed of the model's weights",
    "access_log": "log one line per request (aiohttp's access log)",
    "uvloop": "run on uvloop's event loop when it is installed",
    "llm": "also serve OpenAI-compatible /v1/chat/completions and /v1/completions (streaming "
    "or not), and chat/completions payloads at /serving-endpoints/NAME/invocations",
    "default_max_tokens": "tokens generated for a request that sets no max_tokens",
    "prefill_ms_per_token": "prefill time per prompt token, before the first token",
    "decode_tokens_per_s": "tokens per second each sequence generates after the first",
    "max_sequences": "sequences generating at once; more wait in the sequence queue",
    "kv_cache_tokens": "KV-cache budget: a running sequence holds prompt + max_tokens of it; "
    "0 is no budget",
    "llm_max_waiting": "requests allowed to wait for a sequence before 429",
    "llm_queue_timeout_s": "longest wait for a sequence before 429; 0 waits forever",
}
_NOT_REPRODUCED = ("host", "port")


def _flag(field: str) -> str:
    return "--" + _FLAG_NAMES.get(field, field.replace("_", "-"))


# Flags kept from before upstreams were a list: each sets one named upstream.
_UPSTREAM_ALIASES = {"feature_store_url": FEATURE_STORE, "enrichment_url": ENRICHMENT}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the endpoint's flags; unset flags fall back to EndpointConfig's defaults."""
    for spec in fields(EndpointConfig):
        default = getattr(_DEFAULTS, spec.name)
        if spec.name == "upstreams":
            parser.add_argument(
                "--upstream", dest="upstreams", action="append", metavar="NAME=URL",
                help=_HELP["upstreams"],
            )  # fmt: skip
            for dest, name in _UPSTREAM_ALIASES.items():
                parser.add_argument(
                    _flag(dest), dest=dest, metavar="URL", help=f"same as --upstream {name}=URL"
                )
            continue
        text = f"{_HELP[spec.name]} (default {default})"
        if isinstance(default, bool):
            action = argparse.BooleanOptionalAction
            parser.add_argument(_flag(spec.name), dest=spec.name, action=action, help=text)
            continue
        kind = str if isinstance(default, str) else float if isinstance(default, float) else int
        choices = (429, 503) if spec.name == "overflow_status" else None
        parser.add_argument(_flag(spec.name), dest=spec.name, type=kind, choices=choices, help=text)


def config_from_args(ns: argparse.Namespace) -> EndpointConfig:
    """Build an EndpointConfig from parsed flags; raises ValueError on out-of-range values."""
    given = {spec.name: getattr(ns, spec.name, None) for spec in fields(EndpointConfig)}
    given["upstreams"] = _upstreams(ns)
    return EndpointConfig(**{k: v for k, v in given.items() if v is not None})


def _upstreams(ns: argparse.Namespace) -> tuple[tuple[str, str], ...] | None:
    pairs = []
    for text in getattr(ns, "upstreams", None) or []:
        name, sep, url = text.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"expected --upstream NAME=URL but got upstream={text!r}")
        pairs.append((name, url))
    for dest, name in _UPSTREAM_ALIASES.items():
        url = getattr(ns, dest, None)
        if url:
            pairs.append((name, url))
    return tuple(pairs) if pairs else None


def config_to_argv(config: EndpointConfig) -> list[str]:
    """Flags that make `serving-chaos endpoint` run with `config` (host and port excepted)."""
    argv = []
    for spec in fields(EndpointConfig):
        value = getattr(config, spec.name)
        if spec.name in _NOT_REPRODUCED or value == getattr(_DEFAULTS, spec.name):
            continue
        if spec.name == "upstreams":
            argv += [f"--upstream={name}={url}" for name, url in value]
            continue
        if isinstance(value, bool):
            argv.append(_flag(spec.name) if value else "--no-" + _flag(spec.name)[2:])
        else:
            # `--flag=value` keeps a value that starts with '-' from reading as a flag.
            argv.append(f"{_flag(spec.name)}={value}")
    return argv
