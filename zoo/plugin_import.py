"""A plugin module's import, fenced off from the process that discovers it.

What the import prints goes to stderr, never into a listing's output (``zoo list --names | ...``);
the warning filters it sets end with it; torch's process-wide state (:mod:`zoo.torch_state`) is put
back as it was, and what it changed is said. torch is looked at only where something imported it
already: a listing must not import it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PluginImport:
    """What importing one entry point gave."""

    plugin: Any  # the entry point's object (a module of hooks); None when the import failed
    error: str  # why the import failed; "" when it did not
    seconds: float
    imported_torch: bool  # torch came in with it (DESIGN: a hook module must not import torch)
    torch_changes: str  # what it changed in torch's global state, now put back; "" for nothing


def import_plugin(ep: importlib.metadata.EntryPoint) -> PluginImport:
    """Import ``ep``'s object. Any failure, SystemExit included, is returned, not raised: a plugin
    must never break the zoo. Ctrl-C is the user's, and stops discovery."""
    started = time.perf_counter()
    torch_was_imported, before = "torch" in sys.modules, _torch_global_state()
    plugin, error = None, ""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            plugin = ep.load()
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}"
    finally:
        seconds = time.perf_counter() - started
        imported_torch = not torch_was_imported and "torch" in sys.modules
        changes = _restore_torch_global_state(before)
    return PluginImport(plugin, error, seconds, imported_torch, changes)


def _torch_imported() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and hasattr(torch, "get_default_dtype")  # not a half-imported module


def _torch_global_state():
    """torch's process-wide state, or None when torch is not imported yet."""
    if not _torch_imported():
        return None
    from zoo.torch_state import snapshot

    return snapshot()


def _restore_torch_global_state(before) -> str:
    """Put torch's state back as it was before the import (as torch starts, when the plugin
    imported it); say what it changed."""
    if not _torch_imported():
        return ""
    from zoo import torch_state

    return "; ".join(torch_state.restore(before if before is not None else torch_state.at_import()))
