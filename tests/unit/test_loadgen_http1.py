"""The http1 engine refuses what it cannot speak before it sends anything. Its HTTP/1.1 framing
against real sockets is in the integration tier's test_loadgen_http1."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.loadgen import Constant, Plan, Target


def test_https_is_refused_with_the_engines_that_speak_it() -> None:
    with pytest.raises(UsageError, match="the curl and aiohttp engines speak https"):
        Plan(Target("https://127.0.0.1:9/"), Constant(1, 0.1), engine="http1")
