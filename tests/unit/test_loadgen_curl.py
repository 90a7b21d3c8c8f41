"""The curl engine's pieces that need no server: how it says pycurl is missing, the epoll to
libcurl event mapping, and the timer slack it borrows and gives back."""

from __future__ import annotations

import ctypes
import importlib
import select
import sys
import time
from typing import Any

import pytest

from harness.errors import UsageError
from harness.loadgen import Constant, Plan, Target
from harness.loadgen.pacing import run_paced
from harness.loadgen.recorder import Recorder
from harness.loadgen.timer_slack import fine_timers


def test_missing_pycurl_is_a_usage_error_naming_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.import_module

    def without_pycurl(name: str, package: str | None = None) -> Any:
        if name == "pycurl":
            raise ImportError("No module named 'pycurl'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_pycurl)
    plan = Plan(Target("http://127.0.0.1:9/"), Constant(1, 1), engine="curl")

    with pytest.raises(UsageError, match="--engine aiohttp"):
        run_paced(plan, Recorder(), time.monotonic())


def test_epoll_masks_map_to_libcurl_select_bits() -> None:
    pycurl = pytest.importorskip("pycurl")
    from harness.loadgen.curl_multi import _curl_flags

    flags = _curl_flags(pycurl)

    assert flags[select.EPOLLIN] == pycurl.CSELECT_IN
    assert flags[select.EPOLLOUT] == pycurl.CSELECT_OUT
    assert flags[select.EPOLLIN | select.EPOLLOUT] == pycurl.CSELECT_IN | pycurl.CSELECT_OUT
    assert flags[select.EPOLLIN | select.EPOLLHUP] == pycurl.CSELECT_IN | pycurl.CSELECT_ERR
    assert flags[select.EPOLLERR] == pycurl.CSELECT_ERR


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timer slack is Linux's")
def test_fine_timers_restores_the_timer_slack() -> None:
    prctl = ctypes.CDLL(None).prctl
    before = prctl(30, 0, 0, 0, 0)

    with fine_timers():
        during = prctl(30, 0, 0, 0, 0)

    assert during == 1
    assert prctl(30, 0, 0, 0, 0) == before
