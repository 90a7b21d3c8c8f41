"""`serving-chaos load` against URLs it cannot reach: exit 2 with a message, no traceback, after
really trying from its worker processes."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.system.ports import free_port

pytestmark = pytest.mark.integration


def test_load_against_a_url_nothing_listens_on_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/invocations"
    code = main(["load", "--url", url, "--rate", "5", "--duration", "0.4", "--workers", "1"])
    assert code == 2
    assert f"no request could connect to {url}" in capsys.readouterr().err


def test_a_host_the_http1_engine_cannot_resolve_exits_2_without_a_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = "http://127.0.0.1:99999/"
    argv = ["load", "--url", url, "--engine", "http1", "--rate", "1", "--duration", "1"]
    code = main([*argv, "--workers", "1", "--quiet"])

    err = capfd.readouterr().err
    assert code == 2
    # Found out inside the worker process, and said by the parent all the same.
    assert f"cannot resolve the host of '{url}'" in err
    assert "Traceback" not in err
