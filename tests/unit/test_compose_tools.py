"""`serving-chaos proxies` flags: a malformed proxy spec is refused saying what it expected.
Creating proxies on the real Toxiproxy is in the integration tier's test_compose_tools."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.system.compose_tools import ProxySpec


@pytest.mark.parametrize("text", ["store", "store=a", "=a=b", "a=b=c=d"])
def test_a_malformed_proxy_spec_says_what_it_expected(text: str) -> None:
    with pytest.raises(UsageError, match="expected NAME=LISTEN=UPSTREAM"):
        ProxySpec.parse(text)
