"""The signals that end a long command (SIGTERM, a closed terminal's SIGHUP, Ctrl-C), handled by
the command itself for as long as it runs, so that it stops cleanly instead of dying mid-write.

A signal the caller ignores stays ignored: ``nohup`` ignores SIGHUP, and a shell starts background
jobs with SIGINT ignored; taking those over would stop a command its user told to keep going.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator


@contextlib.contextmanager
def handling(names: tuple[str, ...], handler: Callable) -> Iterator[None]:
    """``handler(signum, frame)`` for each signal in ``names`` (e.g. ``"SIGTERM"``) while the block
    runs, then the handlers found before. Signals the platform lacks (SIGHUP on Windows) and those
    the caller ignores are left as they are; outside the main thread, where Python may not set
    handlers, all of them are."""
    previous = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for name in names:
                number = getattr(signal, name, None)
                if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                    previous[number] = signal.signal(number, handler)
        yield
    finally:
        for number, before in previous.items():  # None: set outside Python, not restorable; the default
            signal.signal(number, signal.SIG_DFL if before is None else before)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``docker stop``, ``timeout``, a CI cancelling a job), and SIGHUP (the terminal
    closed), unwind a command as Ctrl-C does (exit 130): a download under way lets huggingface_hub
    remove its partial file and the zoo put the branch's ref back; by default either signal ends
    the process on the spot and leaves both behind. Only a signal left at its default is taken
    over: a handler already set stays (``zoo demo`` runs its steps as nested commands and lets the
    model at hand finish; a program embedding ``zoo.cli.main`` keeps its own). Commands with their
    own handling (``zoo hub serve``) set theirs inside."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    defaults = tuple(name for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is signal.SIG_DFL)
    with handling(defaults, interrupt):
        yield
