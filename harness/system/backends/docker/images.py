"""The endpoint/stub image, built from this package and tagged by what went into it.

Two sources give the package: a source checkout (the package imported from a tree holding the
project's pyproject.toml, as with ``pip install -e``) or the installed distribution, whose files
are packed back into a wheel. Either way the tag is a digest of the files that go into the
project's wheel, the Dockerfile and the base image name, so an unchanged package reuses the image
and any edit yields a new one. Dependency wheels are made on the host (where the package registry
is reachable) and cached by the requirements they satisfy; the image build runs without network.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from harness.errors import ProvisioningError

__all__ = [
    "DISTRIBUTION",
    "LOCAL_BASE",
    "REPOSITORY",
    "TOXIPROXY_IMAGE",
    "UPSTREAM_BASE",
    "ImageRecipe",
    "Named",
    "digest",
    "ensure_serving_image",
    "find_checkout",
    "user_cache_dir",
]

LOCAL_BASE = "serving-chaos/base:bookworm"
UPSTREAM_BASE = "python:3.11-slim"
REPOSITORY = "serving-chaos/serving"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"

DISTRIBUTION = "serving-chaos"
_DOCKERFILE = Path("harness", "system", "backends", "docker", "Dockerfile")
_PACKAGES = ("harness", "faults", "suites")
_SOURCE_SUFFIXES = {".py", ".typed", ".yaml", ".yml", ".csv"}
# Written by the installer, not part of the distribution; RECORD is rewritten for the new wheel.
_INSTALL_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

# A file that goes into the image: its name inside the wheel (or checkout) and where it is now.
Named = tuple[str, Path]


def find_checkout() -> Path | None:
    """The source tree the harness package is imported from, or None when it is installed."""
    import harness

    root = Path(harness.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    # site-packages may hold some other project's stray pyproject.toml.
    return root if name == DISTRIBUTION else None


def user_cache_dir() -> Path:
    """Where an installed harness keeps dependency wheels (the XDG base directory convention)."""
    configured = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(configured) if os.path.isabs(configured) else Path.home() / ".cache"
    return cache / DISTRIBUTION


class _Source(Protocol):
    @property
    def dockerfile(self) -> Path: ...

    @property
    def wheel_cache(self) -> Path: ...

    def files(self) -> list[Named]: ...

    def project_wheel(self, into: Path) -> Path: ...


@dataclass(frozen=True, slots=True)
class _Checkout:
    root: Path

    @property
    def dockerfile(self) -> Path:
        return self.root / _DOCKERFILE

    @property
    def wheel_cache(self) -> Path:
        return self.root / ".tools" / "wheelhouse"

    def files(self) -> list[Named]:
        found = [self.root / "pyproject.toml", self.dockerfile]
        for package in _PACKAGES:
            found += sorted(
                path
                for path in (self.root / package).rglob("*")
                if path.is_file()
                and path.suffix in _SOURCE_SUFFIXES
                and "__pycache__" not in path.parts
            )
        return [(path.relative_to(self.root).as_posix(), path) for path in found]

    def project_wheel(self, into: Path) -> Path:
        # Building from a copy keeps setuptools' build/ out of the work tree, and with it stale
        # modules that a deleted source file would otherwise leave in the next wheel.
        source = into / "source"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            if (self.root / name).is_file():
                shutil.copy(self.root / name, source / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in _PACKAGES:
            shutil.copytree(self.root / package, source / package, ignore=ignore)
        _pip_wheel("--no-deps", "--wheel-dir", str(into), str(source))
        shutil.rmtree(source)
        return _only_wheel(into)


@dataclass(frozen=True, slots=True)
class _Installed:
    dist: metadata.Distribution

    @property
    def dockerfile(self) -> Path:
        return Path(__file__).with_name(_DOCKERFILE.name)

    @property
    def wheel_cache(self) -> Path:
        return user_cache_dir() / "wheelhouse"

    @property
    def dist_info(self) -> str:
        for entry in self.dist.files or ():
            if entry.name == "METADATA" and entry.parts[0].endswith(".dist-info"):
                return entry.parts[0]
        raise ProvisioningError(f"the installed {DISTRIBUTION} has no METADATA in its RECORD")

    def files(self) -> list[Named]:
        """The installed files a wheel of this distribution holds: packages and metadata, not
        the console scripts, bytecode or what the installer added."""
        if not self.dist.files:
            raise ProvisioningError(
                f"the installed {DISTRIBUTION} lists no files (no RECORD); reinstall it with pip"
            )
        found: list[Named] = []
        for entry in self.dist.files:
            parts = entry.parts
            if parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc":
                continue
            if parts[0].endswith(".dist-info") and entry.name in _INSTALL_RECORDS:
                continue
            found.append((entry.as_posix(), Path(str(self.dist.locate_file(entry)))))
        return sorted(found)

    def project_wheel(self, into: Path) -> Path:
        wheel = into / f"{self.dist_info.removesuffix('.dist-info')}-{self._tag()}.whl"
        _write_wheel(wheel, self.files(), f"{self.dist_info}/RECORD")
        return wheel

    def _tag(self) -> str:
        tags = HeaderParser().parsestr(self.dist.read_text("WHEEL") or "").get_all("Tag") or []
        if len(tags) != 1:
            raise ProvisioningError(f"the installed {DISTRIBUTION} has no single wheel tag")
        return str(tags[0])


def _installed() -> _Installed:
    try:
        return _Installed(metadata.distribution(DISTRIBUTION))
    except metadata.PackageNotFoundError as exc:
        raise ProvisioningError(
            f"cannot build the serving image: {DISTRIBUTION} is neither a source checkout nor an "
            "installed distribution; install it with pip, or pass image= an existing image"
        ) from exc


@dataclass(frozen=True, slots=True)
class ImageRecipe:
    """What the serving image is made of; ``tag`` is derived from all of it. ``source_root``
    is a checkout to build from; None builds from the installed distribution."""

    source_root: Path | None = field(default_factory=find_checkout)
    base: str = LOCAL_BASE

    def source(self) -> _Source:
        return _installed() if self.source_root is None else _Checkout(self.source_root)

    @property
    def dockerfile(self) -> Path:
        return self.source().dockerfile

    def inputs(self) -> list[Named]:
        return self.source().files()

    @property
    def tag(self) -> str:
        return _tag_of(self.source(), self.base)


def _tag_of(source: _Source, base: str) -> str:
    return f"{REPOSITORY}:{digest([('Dockerfile', source.dockerfile), *source.files()], base)}"


def digest(files: Iterable[Named], base: str) -> str:
    hasher = hashlib.sha256(base.encode())
    for name, path in files:
        if not path.is_file():
            raise ProvisioningError(
                f"cannot build the serving image: {path} is missing; reinstall {DISTRIBUTION} "
                "(or run from its source checkout), or pass image= an existing image"
            )
        # Name and content both count, so a rename changes the tag too.
        hasher.update(name.encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()[:16]


def _write_wheel(wheel: Path, files: Iterable[Named], record: str) -> None:
    """A wheel of ``files`` with the RECORD (path, sha256, size) that installers check."""
    lines = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            data = path.read_bytes()
            archive.writestr(name, data)
            hashed = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{name},sha256={hashed.decode()},{len(data)}")
        lines.append(f"{record},,")
        archive.writestr(record, "\n".join(lines) + "\n")


def _only_wheel(directory: Path) -> Path:
    wheels = list(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise ProvisioningError(f"expected one wheel in {directory}, found {len(wheels)}")
    return wheels[0]


def _pip_wheel(*args: str) -> None:
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise ProvisioningError(
            f"pip wheel {' '.join(args)} failed with code {result.returncode}:\n"
            f"{result.stderr[-4000:]}"
        )


def _requirements_key(project: Path) -> str:
    """The dependency wheels depend only on the project's declared requirements."""
    with zipfile.ZipFile(project) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(archive.read(name).decode())
    lines = [*sorted(headers.get_all("Requires-Dist") or []), headers.get("Requires-Python", "")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _dependency_wheels(project: Path, cache_root: Path) -> Path:
    """Wheels of the project's dependencies, cached so only the project itself is rebuilt."""
    cache = cache_root / _requirements_key(project)
    if cache.is_dir():
        return cache
    cache_root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{cache.name}.", suffix=".partial", dir=cache_root))
    try:
        _pip_wheel("--wheel-dir", str(partial), str(project))
        for own in partial.glob(f"{project.name.split('-')[0]}-*.whl"):
            own.unlink()
        # Another run may have filled the cache meanwhile; its wheels serve as well as ours.
        with contextlib.suppress(OSError):
            partial.rename(cache)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not cache.is_dir():
        raise ProvisioningError(f"could not store dependency wheels in {cache}")
    return cache


def _wheelhouse(source: _Source, into: Path) -> None:
    scratch = into.parent / "project"
    scratch.mkdir()
    project = source.project_wheel(scratch)
    shutil.copytree(_dependency_wheels(project, source.wheel_cache), into)
    shutil.copy(project, into / project.name)
    shutil.rmtree(scratch)


def _has_image(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def ensure_serving_image(client: Any, recipe: ImageRecipe | None = None) -> str:
    """The tag of an image holding this package, building it only when it does not exist."""
    from docker.errors import BuildError

    recipe = recipe or ImageRecipe()
    source = recipe.source()
    tag = _tag_of(source, recipe.base)
    if _has_image(client, tag):
        return tag
    if not _has_image(client, recipe.base):
        raise ProvisioningError(
            f"base image {recipe.base} is missing; run `bash scripts/provision_docker.sh` "
            f"(builds {LOCAL_BASE}) or pull {UPSTREAM_BASE} and pass it as the base"
        )
    context = Path(tempfile.mkdtemp(prefix="serving-chaos-build-"))
    try:
        _wheelhouse(source, context / "wheels")
        shutil.copy(source.dockerfile, context / "Dockerfile")
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
