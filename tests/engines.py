"""The load engines as test parameters: each one this machine lacks (native where Rust's cargo
was not there to build it, curl without pycurl) is skipped, saying why."""

from __future__ import annotations

from typing import Any

import pytest

from harness.loadgen.curl import curl_available
from harness.loadgen.native_support import native_available

CURL = pytest.param("curl", marks=pytest.mark.skipif(not curl_available(), reason="needs pycurl"))
NATIVE = pytest.param(
    "native", marks=pytest.mark.skipif(not native_available(), reason="not built")
)


def engines(*names: str) -> list[Any]:
    """``names`` as parameters, curl and native skipped where they are not installed."""
    given = {"curl": CURL, "native": NATIVE}
    return [given.get(name, name) for name in names]
