"""Fixtures shared by every test directory.

``plugin_packages`` installs packages from ``tests/packages/`` the way a user would (pip, real
dist-info and entry points), each into a private directory, so tests can put exactly the
plugins they need on ``sys.path`` without touching the project's environment.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.registry import reset_registry

PACKAGES_DIR = Path(__file__).parent / "packages"


@pytest.fixture(scope="session")
def install_test_package(tmp_path_factory):
    """``install("sample-plugin") -> Path`` of a site directory holding the installed package."""
    installed: dict[str, Path] = {}

    def install(name: str) -> Path:
        if name not in installed:
            target = tmp_path_factory.mktemp(f"site-{name}")
            # Built from a private copy: setuptools writes build/ and *.egg-info into the source
            # folder, and pytest-xdist workers building the same package there broke each other.
            source = tmp_path_factory.mktemp(f"src-{name}") / name
            shutil.copytree(PACKAGES_DIR / name, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
            result = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                 "--no-index", "--target", str(target), str(source)],
                capture_output=True, text=True,
            )
            assert result.returncode == 0, f"pip install {name} failed:\n{result.stdout}\n{result.stderr}"
            installed[name] = target
        return installed[name]

    return install


@pytest.fixture
def plugin_packages(install_test_package, monkeypatch):
    """``use("sample-plugin", ...)``: put installed test packages on sys.path (and PYTHONPATH for
    subprocesses), and rediscover plugins. Everything is undone after the test."""

    def use(*names: str) -> list[Path]:
        sites = [install_test_package(n) for n in names]
        for site in sites:
            monkeypatch.syspath_prepend(str(site))
        paths = [str(s) for s in sites] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
        importlib.invalidate_caches()
        reset_registry()
        return sites

    yield use
    reset_registry()


@pytest.fixture(autouse=True)
def _private_zoo_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own ZOO_CACHE_DIR (the on-disk checked-files record lives there), so no
    test reads what another one remembered, and nothing is written to the user's ~/.cache/visionzoo."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.mktemp("zoo-cache")))
    for switch in ("ZOO_REMEMBER_CHECKS", "ZOO_ALIGNED_COPIES"):
        monkeypatch.delenv(switch, raising=False)


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test starts from a registry discovered in its own environment."""
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def run_zoo():
    """``run_zoo("list", "--names", env={...})``: the ``zoo`` command in a fresh process, with this
    environment (PYTHONPATH included) plus ``env``; returns the CompletedProcess. ``timeout`` (s)
    bounds a command that could hang."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        # A hung command fails its test (TimeoutExpired) instead of stalling the whole run.
        return subprocess.run([sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True,
                              env={**os.environ, **(env or {})}, timeout=timeout)

    return run
