"""A plugin module's import, fenced off from the process that discovers it.

What the import prints goes to stderr, never into a listing's output (``zoo list --names | ...``),
and only its own thread's prints do (:func:`prints_to_stderr`);
the warning filters it sets end with it; torch's process-wide state (:mod:`zoo.torch_state`) is put
back as it was, and what it changed is said. torch is looked at only where something imported it
already: a listing must not import it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import threading
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
        with warnings.catch_warnings(), prints_to_stderr():
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


@contextlib.contextmanager
def prints_to_stderr():
    """What this thread prints goes to stderr inside the block. ``contextlib.redirect_stdout``
    swaps ``sys.stdout`` for every thread: an application thread printing its own output (a CSV)
    while a worker thread made the first zoo call lost lines into stderr."""
    redirected = _ThreadsPrintsToStderr(sys.stdout, threading.get_ident())
    sys.stdout = redirected
    try:
        yield
    finally:
        if sys.stdout is redirected:  # else something replaced it meanwhile: theirs now
            sys.stdout = redirected.stdout


class _ThreadsPrintsToStderr:
    """``sys.stdout`` for every thread but one, whose writes go to ``sys.stderr``."""

    def __init__(self, stdout, thread: int) -> None:
        self.stdout, self._thread = stdout, thread

    def _target(self):
        return sys.stderr if threading.get_ident() == self._thread else self.stdout

    def write(self, text: str) -> int:
        target = self._target()
        return len(text) if target is None else target.write(text)  # None: no such stream (pythonw)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            target.flush()

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # buffer, fileno...: the calling thread's stream's own
        target = self._target()
        return getattr(target if target is not None else self.stdout, name)


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
