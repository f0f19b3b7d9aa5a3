"""Where hub-card folders (``<arch>.<tag>/``: README.md, config.json, weights, recipe) are looked up.

The commands default to the zoo's own ``hubcards/`` (or ``$ZOO_HUBCARDS_DIR``); the conformance
checks and the test fixture that serves cards also look in the plugin author's project.
"""

from __future__ import annotations

import os
from pathlib import Path


def source_hubcards_dir() -> Path | None:
    """``$ZOO_HUBCARDS_DIR``, else ``hubcards/`` beside the ``zoo`` package in a source checkout."""
    env = os.environ.get("ZOO_HUBCARDS_DIR")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[1] / "hubcards"
    return candidate if candidate.is_dir() else None


def default_hubcards_dir() -> Path:
    """The ``--hubcards`` default of the commands: :func:`source_hubcards_dir` (so they work from
    any working directory of a source checkout, or wherever ``$ZOO_HUBCARDS_DIR`` points), else
    ``./hubcards``."""
    return source_hubcards_dir() or Path("hubcards")


def missing_hubcards_message(hubcards: Path, how: str = "pass --hubcards DIR") -> str:
    """``how``: the command's own way to name the folder (``zoo hub serve`` takes it as its argument)."""
    return (f"no hub-cards folder {hubcards} ({how}, or set ZOO_HUBCARDS_DIR, to the folder "
            "holding the <arch>.<tag>/ card folders)")


def hubcards_roots() -> list[Path]:
    """Where the checks look for hub cards: :func:`source_hubcards_dir` (``$ZOO_HUBCARDS_DIR`` or
    the zoo's own), and the plugin author's :func:`project_hubcards`."""
    found: dict[Path, Path] = {}
    for folder in (source_hubcards_dir(), project_hubcards()):
        if folder is not None and folder.is_dir():
            found.setdefault(folder.resolve(), folder)
    return list(found.values())


#: what marks a project's root folder, where the search for its hubcards/ stops
PROJECT_ROOT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_hubcards(start: Path | None = None) -> Path | None:
    """``hubcards/`` of the folder the suite runs from, or of the nearest folder above it within
    the same project (up to its root: the first folder holding a ``pyproject.toml``, ``setup.py``,
    ``setup.cfg`` or ``.git``), so ``pytest`` run from ``tests/`` (or by an IDE, per file) checks the
    package's cards as from its root. Outside any project only ``./hubcards`` counts: a
    ``hubcards/`` met on the way up to the home folder would be someone else's."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / "hubcards").is_dir() and (folder == here or _inside_a_project(folder)):
            return folder / "hubcards"
        if any((folder / marker).exists() for marker in PROJECT_ROOT_MARKERS):
            return None
    return None


def _inside_a_project(folder: Path) -> bool:
    """Whether ``folder`` or a folder above it is a project's root."""
    return any((parent / marker).exists() for parent in (folder, *folder.parents) for marker in PROJECT_ROOT_MARKERS)
