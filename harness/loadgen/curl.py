"""The libcurl engine: one thread, one multi handle, paced like the http1 engine
(:mod:`harness.loadgen.pacing`), the same contract as the aiohttp engine.

It pays at high rates, where aiohttp's per-request Python overhead makes the generator itself the
bottleneck. pycurl is optional: it is imported only when this engine is chosen, and
:func:`curl_available` lets callers fall back to aiohttp.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from harness.errors import UsageError
from harness.loadgen.curl_multi import CurlLoop
from harness.loadgen.engine import Sink, Target

__all__ = ["curl_available", "curl_loop"]


def curl_available() -> bool:
    return importlib.util.find_spec("pycurl") is not None


def _import_pycurl() -> Any:
    try:
        # Imported by name: pycurl is optional and ships no type information.
        return importlib.import_module("pycurl")
    except ImportError as exc:
        raise UsageError(
            "expected pycurl for --engine curl but it is not installed; "
            "`pip install pycurl` or use --engine aiohttp"
        ) from exc


def curl_loop(target: Target, sink: Sink, t0: float) -> CurlLoop:
    """The curl engine's event loop for :func:`harness.loadgen.pacing.run_paced`."""
    return CurlLoop(_import_pycurl(), target, sink, t0)
