"""How `make test` shares this machine: pytest-xdist runs two workers (``-n 2 --dist
loadgroup``), each a group of tests kept together. Most tests wait on real servers and clocks
rather than on the CPU, so two at a time halve the wall time; a worker keeps its own session
topology, Ray and temporary folders, and every server picks free loopback ports.

``shipped``: the shipped suites (scenario runs at modest rates) and the two long end-to-end
tests of the installed wheel and of explore; ``checks``: everything else, in file order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent
SHIPPED = (
    ROOT / "suites",
    ROOT / "tests" / "integration" / "test_installed_wheel.py",
    ROOT / "tests" / "integration" / "test_explore.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        shipped = any(item.path == path or path in item.path.parents for path in SHIPPED)
        item.add_marker(pytest.mark.xdist_group("shipped" if shipped else "checks"))
