"""The one way a ``zoo`` command says it cannot run as given.

A command raises :class:`UsageError` where it finds the bad usage, however deep; :func:`zoo.cli.main`
alone turns it into ``zoo <command>: error: <message>`` on stderr and exit 2, as argparse does
for what it checks itself. So no command prints its own usage errors or returns their code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from zoo.errors import ZooError


class UsageError(ZooError, ValueError):
    """A ``zoo`` command cannot run as asked (a missing image file, an option out of range, an
    option the method does not take); the message says what to give instead."""


def save_output(save: Callable[[Path], object], target: Path) -> None:
    """``save(target)``; a file the system refuses to write there (no such folder, no permission,
    a read-only or full disk) is a usage error naming it, as a folder ``-o`` cannot create is."""
    try:
        save(target)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; pass -o a place you can write to") from None


def refuse_file_as_folder(folder: Path, holds: str) -> None:
    """An ``-o`` that must be a folder but names a file (or ``/dev/null``) is a usage error before
    any work is done (mkdir said only "File exists", after it)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {folder} is a file, not a folder; give a folder for {holds}")
