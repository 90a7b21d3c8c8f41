"""Finding toxiproxy-server: $SERVING_CHAOS_TOXIPROXY, then PATH, then the project's tools."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import harness.system.toxiproxy
from harness.errors import ChaosError, ProvisioningError
from harness.system.toxiproxy import find_toxiproxy_server


def _executable(folder: Path, name: str = "toxiproxy-server") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / name
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


@pytest.fixture
def no_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's tool folder, empty, so only env and PATH can answer."""
    folder = tmp_path / "tools-bin"
    folder.mkdir()
    monkeypatch.setattr(harness.system.toxiproxy, "_PROJECT_TOOLS", folder)
    return folder


def test_explicit_non_executable_is_rejected_naming_the_variable(tmp_path: Path) -> None:
    plain = tmp_path / "toxiproxy-server"
    plain.write_text("not a program\n")
    plain.chmod(0o644)

    with pytest.raises(ProvisioningError) as info:
        find_toxiproxy_server({"SERVING_CHAOS_TOXIPROXY": str(plain), "PATH": ""})

    assert f"SERVING_CHAOS_TOXIPROXY={plain} is not an executable file" in str(info.value)
    assert isinstance(info.value, ChaosError)


@pytest.mark.parametrize("name", ["missing", "."])
def test_explicit_missing_or_directory_is_rejected(tmp_path: Path, name: str) -> None:
    target = tmp_path / name

    with pytest.raises(ProvisioningError, match="SERVING_CHAOS_TOXIPROXY="):
        find_toxiproxy_server({"SERVING_CHAOS_TOXIPROXY": str(target)})


def test_explicit_executable_is_returned_before_path(tmp_path: Path) -> None:
    explicit = _executable(tmp_path / "pinned")
    _executable(tmp_path / "bin")

    found = find_toxiproxy_server(
        {"SERVING_CHAOS_TOXIPROXY": str(explicit), "PATH": str(tmp_path / "bin")}
    )

    assert found == explicit


def test_path_lookup_finds_the_binary(tmp_path: Path, no_bundled: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    binary = _executable(tmp_path / "bin")

    found = find_toxiproxy_server({"PATH": f"{empty}:{tmp_path / 'bin'}"})

    assert found == binary


def test_empty_variable_falls_through_to_path(tmp_path: Path, no_bundled: Path) -> None:
    binary = _executable(tmp_path / "bin")

    found = find_toxiproxy_server({"SERVING_CHAOS_TOXIPROXY": "", "PATH": str(tmp_path / "bin")})

    assert found == binary


def test_bundled_binary_is_the_last_resort(tmp_path: Path, no_bundled: Path) -> None:
    bundled = _executable(no_bundled)
    empty = tmp_path / "empty"
    empty.mkdir()

    assert find_toxiproxy_server({"PATH": str(empty)}) == bundled


def test_nothing_found_says_how_to_provision(tmp_path: Path, no_bundled: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(ProvisioningError, match="not found on PATH") as info:
        find_toxiproxy_server({"PATH": str(empty)})

    assert "make provision" in str(info.value)
    assert str(no_bundled) in str(info.value)


def test_given_env_without_path_does_not_read_process_path(
    tmp_path: Path, no_bundled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    with pytest.raises(ProvisioningError):
        find_toxiproxy_server({})
