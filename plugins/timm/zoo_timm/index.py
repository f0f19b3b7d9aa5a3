"""The shipped index of timm's architectures and Hub weights, read with the stdlib only.

Listing models must not import timm (which imports torch, seconds of start-up), so the
names and pretrained configs are generated once from an installed timm by
``python -m zoo_timm.build_index`` and shipped as ``timm_index.json`` next to this file.

File layout (``format`` 1)::

    {"format": 1, "timm_version": "1.0.31",
     "architectures": {"resnet18": [[tag, num_classes, in_chans, license, default, hub_id], ...],
                       "resnet10t": [], ...},
     "skipped": {"arch.tag": "why its weights are not offered", ...}}

``hub_id`` is null when it is timm's usual ``timm/<arch>.<tag>``; ``default`` is 1 for timm's
default tag of the architecture. Tags appear in timm's order of preference.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

INDEX_FILE = Path(__file__).with_name("timm_index.json")
# Where site-packages is read-only, regenerate elsewhere (``-o PATH``) and point this at it.
INDEX_ENV = "ZOO_TIMM_INDEX"
FORMAT = 1
REGENERATE = "python -m zoo_timm.build_index"


def index_path() -> Path:
    """``$ZOO_TIMM_INDEX`` when set, else the index shipped in the package."""
    return Path(os.environ.get(INDEX_ENV) or INDEX_FILE)


def load_index(path: str | Path | None = None) -> dict:
    """The index as a dict (see the module docstring for its layout)."""
    path = index_path() if path is None else path
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if index.get("format") != FORMAT:
        raise ValueError(f"{path}: index format {index.get('format')!r}, expected {FORMAT}; "
                         f"regenerate it with `{REGENERATE}`")
    return index


def installed_timm_version() -> str | None:
    """timm's version from its metadata, without importing timm; None if it is not installed."""
    try:
        return importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        return None


def default_hub_id(arch: str, tag: str) -> str:
    return f"timm/{arch}.{tag}"


def index_note(index: dict, installed: str | None) -> str:
    """An empty string when the index matches the installed timm, else what to do about it."""
    built = index["timm_version"]
    if installed == built:
        return ""
    return (f"zoo_timm's index was built from timm {built} but timm {installed} is installed: models "
            f"or tags added or removed since are not reflected; regenerate with `{REGENERATE}`")
