"""huggingface_hub's module-level settings, set for the zoo's downloads and put back after.

huggingface_hub reads ``HF_HUB_OFFLINE`` and ``HF_HUB_DOWNLOAD_TIMEOUT`` once, at import, into
``huggingface_hub.constants``; a process that changes them later (a notebook, a test) gets what
its environment says now, for the zoo's downloads only. Downloads in several threads overlap: the
values the process had before the first one began are put back when the last one ends (each
putting back what it found would leave the first one's override in place).
"""

from __future__ import annotations

import contextlib
import threading

_lock = threading.Lock()
_active = 0  # zoo downloads running now, in any thread
_saved: tuple = ()  # huggingface_hub's values before the first of them


@contextlib.contextmanager
def overridden(offline: bool, download_timeout: int | None):
    """``constants.HF_HUB_OFFLINE = offline`` (and the download timeout, where given) inside."""
    global _active, _saved
    from huggingface_hub import constants

    with _lock:
        if _active == 0:
            _saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT
        _active += 1
        constants.HF_HUB_OFFLINE = offline
        if download_timeout:
            constants.HF_HUB_DOWNLOAD_TIMEOUT = download_timeout
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                constants.HF_HUB_OFFLINE, constants.HF_HUB_DOWNLOAD_TIMEOUT = _saved
