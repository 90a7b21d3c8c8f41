"""Children of the harness live as long as the harness, whichever thread started them."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from harness.system.backends.children import ChildProcess

pytestmark = pytest.mark.integration


def test_a_child_started_from_a_thread_that_ends_keeps_running(tmp_path: Path) -> None:
    # A restart under a fault runs in a worker thread that ends with the run's event loop.
    child = ChildProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"])
    starter = threading.Thread(target=child.start, args=(tmp_path,))
    starter.start()
    starter.join()
    try:
        time.sleep(0.5)
        assert child.alive(), f"the child ended with its starting thread: {child.exit_code()}"
    finally:
        child.stop(grace_s=2)
    assert not child.alive()
