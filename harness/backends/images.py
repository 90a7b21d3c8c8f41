"""The endpoint/stub image, built from the local source and tagged by what went into it.

The tag is a digest of the project's sources, pyproject.toml, the Dockerfile and the base image
name, so an unchanged tree reuses the image and any edit yields a new one. The wheelhouse is made
on the host (where the package registry is reachable) and the image build runs without network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ProvisioningError

LOCAL_BASE = "serving-chaos/base:bookworm"
UPSTREAM_BASE = "python:3.11-slim"
REPOSITORY = "serving-chaos/serving"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = ("harness", "faults", "suites")
_SOURCE_SUFFIXES = {".py", ".typed", ".yaml", ".yml"}


@dataclass(frozen=True, slots=True)
class ImageRecipe:
    """What the serving image is made of; ``tag`` is derived from all of it."""

    source_root: Path = _PROJECT_ROOT
    base: str = LOCAL_BASE

    @property
    def dockerfile(self) -> Path:
        return self.source_root / "dockerfiles" / "serving" / "Dockerfile"

    def inputs(self) -> list[Path]:
        found = [self.source_root / "pyproject.toml", self.dockerfile]
        for package in _PACKAGES:
            found += sorted(
                path
                for path in (self.source_root / package).rglob("*")
                if path.is_file()
                and path.suffix in _SOURCE_SUFFIXES
                and "__pycache__" not in path.parts
            )
        return found

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{digest(self.source_root, self.inputs(), self.base)}"


def digest(root: Path, files: Iterable[Path], base: str) -> str:
    hasher = hashlib.sha256(base.encode())
    for path in files:
        if not path.is_file():
            raise ProvisioningError(
                f"cannot build the serving image: {path} is missing; the harness builds it from a "
                "source checkout (pip install -e), or pass image= an existing image"
            )
        # Path and content both count, so a rename changes the tag too.
        hasher.update(str(path.relative_to(root)).encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()[:16]


def _pip_wheel(*args: str) -> None:
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise ProvisioningError(
            f"pip wheel {' '.join(args)} failed with code {result.returncode}:\n"
            f"{result.stderr[-4000:]}"
        )


def _copy_source(recipe: ImageRecipe, into: Path) -> None:
    # Building from a copy keeps setuptools' build/ out of the work tree, and with it stale
    # modules that a deleted source file would otherwise leave in the next wheel.
    for name in ("pyproject.toml", "README.md"):
        if (recipe.source_root / name).is_file():
            shutil.copy(recipe.source_root / name, into / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in _PACKAGES:
        shutil.copytree(recipe.source_root / package, into / package, ignore=ignore)


def _dependency_wheels(recipe: ImageRecipe, source: Path) -> Path:
    """Wheels of the dependencies, cached per pyproject.toml so only the project is rebuilt."""
    pyproject = recipe.source_root / "pyproject.toml"
    key = hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16]
    cache = recipe.source_root / ".tools" / "wheelhouse" / key
    if not cache.is_dir():
        partial = cache.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _pip_wheel("--wheel-dir", str(partial), str(source))
        for own in partial.glob("serving_chaos-*.whl"):
            own.unlink()
        partial.rename(cache)
    return cache


def _wheelhouse(recipe: ImageRecipe, into: Path) -> None:
    source = into.parent / "source"
    source.mkdir()
    _copy_source(recipe, source)
    shutil.copytree(_dependency_wheels(recipe, source), into)
    _pip_wheel("--no-deps", "--wheel-dir", str(into), str(source))
    shutil.rmtree(source)


def _has_image(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def ensure_serving_image(client: Any, recipe: ImageRecipe | None = None) -> str:
    """The tag of an image holding this source tree, building it only when it does not exist."""
    from docker.errors import BuildError

    recipe = recipe or ImageRecipe()
    tag = recipe.tag
    if _has_image(client, tag):
        return tag
    if not _has_image(client, recipe.base):
        raise ProvisioningError(
            f"base image {recipe.base} is missing; run `bash scripts/provision_docker.sh` "
            f"(builds {LOCAL_BASE}) or pull {UPSTREAM_BASE} and pass it as the base"
        )
    context = Path(tempfile.mkdtemp(prefix="serving-chaos-build-"))
    try:
        _wheelhouse(recipe, context / "wheels")
        shutil.copy(recipe.dockerfile, context / "Dockerfile")
        client.images.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE": recipe.base},
            network_mode="none",
            rm=True,
            forcerm=True,
        )
    except BuildError as exc:
        lines = "".join(str(chunk.get("stream", "")) for chunk in exc.build_log)
        raise ProvisioningError(f"building {tag} failed: {exc.msg}\n{lines[-4000:]}") from exc
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag
