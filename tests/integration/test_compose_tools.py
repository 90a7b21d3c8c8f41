"""`serving-chaos proxies`, the compose start-up job, against the real Toxiproxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.system.backends.children import ChildProcess
from harness.system.compose_tools import ProxySpec, create_proxies
from harness.system.ports import free_port
from harness.system.readiness import HttpReady
from harness.system.toxiproxy import ToxiproxyClient, find_toxiproxy_server

pytestmark = pytest.mark.integration


def test_proxies_are_created_with_their_listen_and_upstream(tmp_path: Path) -> None:
    api_port, listen_port = free_port(), free_port()
    server = ChildProcess(
        "toxiproxy", [str(find_toxiproxy_server()), "-host", "127.0.0.1", "-port", str(api_port)]
    )
    server.start(tmp_path)
    try:
        HttpReady(f"http://127.0.0.1:{api_port}/version").wait(server)
        spec = ProxySpec.parse(f"store=127.0.0.1:{listen_port}=127.0.0.1:9")
        create_proxies(f"http://127.0.0.1:{api_port}", [spec])
        created = ToxiproxyClient("127.0.0.1", api_port).proxy("store")
    finally:
        server.stop()
    assert (created.listen, created.upstream) == (f"127.0.0.1:{listen_port}", "127.0.0.1:9")
