"""The zoo's own cache folder (``ZOO_CACHE_DIR``).

Hub downloads live in huggingface_hub's cache, shared with every HF tool; the zoo keeps only
its own data here: the checked-files record (``checked/``), aligned copies of weight files
(``aligned/``) and ``zoo hub serve``'s repositories (``hub-serve/``). The first two are trusted
when read back (a forged record or copy would pass as checked weights), so their folders are
used only when they belong to this user and no one else can write to them.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

#: The sub-folders of the checked-files record and of the aligned copies; both hold data derived
#: from other files, rebuilt when needed: safe to delete.
CHECKED, ALIGNED = "checked", "aligned"
DERIVED = (CHECKED, ALIGNED)


def zoo_cache_dir() -> Path:
    """``$ZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/visionzoo``, else ``~/.cache/visionzoo``; read
    at each call."""
    root = os.environ.get("ZOO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "visionzoo")
    return Path(os.path.expanduser(root))


def switched_off(variable: str) -> bool:
    """True when the environment variable ``variable`` is set to 0/false/no/off."""
    return os.environ.get(variable, "").strip().lower() in {"0", "false", "no", "off"}


def is_private(folder: Path) -> bool:
    """True when ``folder`` is a folder of this user that no one else can write to."""
    try:
        st = folder.stat()
    except OSError:
        return False
    owned = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and owned and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def private_folder(name: str) -> Path | None:
    """``zoo_cache_dir() / name``, created with mode 0700 if missing; None if it cannot be
    created or is not private (see the module docstring)."""
    folder = zoo_cache_dir() / name
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if is_private(folder) else None



def contents() -> list[tuple[str, int, int]]:
    """``(sub-folder, files, bytes)`` for each sub-folder of :func:`zoo_cache_dir`, by name."""
    root = zoo_cache_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        found.append((folder.name, len(files), sum(p.stat().st_size for p in files)))
    return found


def clear(names: tuple[str, ...] = DERIVED) -> list[Path]:
    """Delete these sub-folders of :func:`zoo_cache_dir`; returns the ones that existed."""
    removed = []
    for name in names:
        folder = zoo_cache_dir() / name
        if folder.is_dir():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed
