"""The docker backend from a wheel installed into a fresh venv, with no source checkout in
reach: the serving image must be built from the installed distribution itself."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
SCENARIO = Path("suites", "scenarios", "feature_store_latency.yaml")

# Building a wheel, a venv, the dependency wheels and an image takes a few minutes cold.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def _run(
    argv: Sequence[str | Path],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env,
        timeout=timeout,
        capture_output=True,
        text=True,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _wheelhouses() -> list[Path]:
    """The checkout's cached dependency wheels, so installs need few downloads."""
    return sorted(p for p in (CHECKOUT / ".tools" / "wheelhouse").glob("*") if p.is_dir())


def _pip_cache() -> Path:
    # The child gets its own XDG_CACHE_HOME; pip's download cache stays the usual one.
    if os.environ.get("PIP_CACHE_DIR"):
        return Path(os.environ["PIP_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "pip"


@pytest.fixture(scope="module")
def engine() -> None:
    from harness.system.backends.docker.engine import unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no Docker engine answers: {reason}")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the project, built from a copy so no build/ lands in the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("harness", "faults", "suites"):
        shutil.copytree(CHECKOUT / package, source / package, ignore=ignore)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _check(_run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, source]))
    (built,) = dist.glob("serving_chaos-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    root = tmp_path_factory.mktemp("venv")
    assert not root.is_relative_to(CHECKOUT)
    _check(_run([sys.executable, "-m", "venv", root]))
    links = [arg for house in _wheelhouses() for arg in ("--find-links", str(house))]
    pip: list[str | Path] = [root / "bin" / "python", "-m", "pip", "--disable-pip-version-check"]
    # From the checkout's wheelhouse alone when it has everything: no index round trips.
    offline = _run([*pip, "install", "--quiet", "--no-index", *links, wheel]) if links else None
    if offline is None or offline.returncode != 0:
        _check(_run([*pip, "install", "--quiet", *links, wheel]))
    return root


def _environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = os.pathsep.join([str(CHECKOUT / ".tools" / "bin"), env.get("PATH", "")])
    env["XDG_CACHE_HOME"] = str(cache)
    env["PIP_CACHE_DIR"] = str(_pip_cache())
    env["PIP_FIND_LINKS"] = " ".join(str(house) for house in _wheelhouses())
    return env


def test_the_installed_package_has_its_dockerfile_and_no_checkout(venv: Path) -> None:
    probe = (
        "import harness; from harness.system.backends.docker import images; "
        "print(harness.__file__); print(images.find_checkout()); "
        "print(images.ImageRecipe().dockerfile.is_file())"
    )
    out = _check(_run([venv / "bin" / "python", "-c", probe], cwd=venv))
    location, checkout, dockerfile = out.split()
    assert Path(location).is_relative_to(venv)
    assert checkout == "None"
    assert dockerfile == "True"


# A base of this test's own: the image's tag depends on its base, so the run cannot find an
# image another test (or an earlier run) built, and must build one from the installed package.
PRIVATE_BASE = "serving-chaos/base:installed-wheel-test"


@pytest.fixture
def private_base(engine: None, venv: Path) -> Iterator[str]:
    from harness.system.backends.docker import connect
    from harness.system.backends.docker.images import LOCAL_BASE

    client = connect()
    repository, tag = PRIVATE_BASE.split(":")
    client.images.get(LOCAL_BASE).tag(repository, tag)
    probe = (
        "from harness.system.backends.docker.images import ImageRecipe; "
        f"print(ImageRecipe(base={PRIVATE_BASE!r}).tag)"
    )
    built = _check(_run([venv / "bin" / "python", "-c", probe], cwd=venv)).strip()
    try:
        yield PRIVATE_BASE
    finally:
        for name in (built, PRIVATE_BASE):
            with contextlib.suppress(Exception):
                client.images.remove(name)
        client.close()


def test_a_docker_run_from_the_installed_wheel(
    private_base: str, venv: Path, tmp_path: Path
) -> None:
    elsewhere, reports, cache = tmp_path / "cwd", tmp_path / "report", tmp_path / "cache"
    elsewhere.mkdir()
    site = _check(_run([venv / "bin" / "python", "-c", "import suites; print(suites.__file__)"]))
    scenario = Path(site.strip()).parent.parent / SCENARIO
    argv: list[str | Path] = [
        venv / "bin" / "serving-chaos",
        "run",
        scenario,
        "--backend",
        "docker",
    ]
    env = {**_environment(cache), "SERVING_CHAOS_BASE_IMAGE": private_base}
    result = _run([*argv, "--report-dir", reports], cwd=elsewhere, env=env, timeout=1100)
    output = f"{result.stdout}\n{result.stderr}"
    assert "pyproject.toml is missing" not in output
    assert result.returncode in {0, 1}, output
    data = json.loads((reports / "results.json").read_text())
    assert data["backend"] == "docker"
    assert result.returncode == (0 if data["passed"] else 1), output
    # Dependency wheels went to the user cache, not to a checkout.
    assert any((cache / "serving-chaos" / "wheelhouse").glob("*/*.whl"))
