"""What the zoo already checked about a file, remembered while the file stays the same.

Why: a warm create would otherwise re-read every byte it checked on the last create: the
sha256 of a cached weights file (about 0.7 s per GB), its NaN/Inf scan and its parsed header.
Those answers change only when the file does. A file is recognised by its identity: device,
inode, size, and modification and change times in nanoseconds. Rewriting, replacing or
truncating a file changes at least one of them (the change time cannot be set from user space).

Like git's index, an answer is not remembered when the file changed less than
``RACY_SECONDS`` before it was checked: some file systems keep coarse timestamps (ext4 ticks
with the kernel clock, FAT every 2 s), so a rewrite within the same tick could keep the same
identity. The record lives in this process only; a new process checks each file once again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

RACY_SECONDS = 2.0

Identity = tuple[int, int, int, int, int]

_answers: dict[tuple[int, int, str], tuple[Identity, object]] = {}


def identity(path: str | Path) -> Identity:
    """(device, inode, size, mtime_ns, ctime_ns) of the file ``path`` points to (links followed)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def recall(before: Identity, check: str) -> object:
    """The answer remembered for ``check`` on the file whose identity is ``before``, else None."""
    entry = _answers.get((before[0], before[1], check))
    return entry[1] if entry is not None and entry[0] == before else None


def remember(path: str | Path, before: Identity, check: str, answer: object) -> None:
    """Remember ``answer``, computed from the file as it was when ``before`` was taken.

    Nothing is remembered when the file changed meanwhile, or changed too recently to be
    told apart from a rewrite in the same timestamp tick.
    """
    try:
        now = identity(path)
    except OSError:
        return
    if now != before or time.time_ns() - max(now[3], now[4]) < RACY_SECONDS * 1e9:
        return
    _answers[(now[0], now[1], check)] = (now, answer)


def forget_all() -> None:
    """Drop every remembered answer (the next check of each file reads it again)."""
    _answers.clear()
