"""What the zoo already checked about a file, remembered while the file stays the same.

Why: a warm create would otherwise re-read every byte it checked on the last create: the
sha256 of a cached weights file (about 0.7 s per GB), its NaN/Inf scan and its parsed header.
Those answers change only when the file does. A file is recognised by its identity: device,
inode, size, and modification and change times in nanoseconds. Rewriting, replacing or
truncating a file changes at least one of them (the change time cannot be set from user space).

Like git's index, an answer is not remembered when the file changed less than
``RACY_SECONDS`` before it was checked: some file systems keep coarse timestamps (ext4 ticks
with the kernel clock, FAT every 2 s), so a rewrite within the same tick could keep the same
identity.

Two records: every answer is kept in this process; *durable* answers (JSON values: the sha256,
the NaN/Inf scan, the validated header) are also written to ``record_dir()``, one small JSON
file per file, so a new process does not read a 1 GB file again to learn what it learnt
yesterday. What that trusts, as git's index does: that nobody with your own rights both
rewrote a file and forged its record, and that an unchanged file did not rot on disk. The
record is used only when its folder belongs to you and no one else can write to it
(:mod:`zoo.cache_dir`). One way a file changes and keeps its identity: writes through a shared
memory map (``np.memmap(mode="r+")``, ``torch.from_file(shared=True)``), which tmpfs never
stamps and ext4 stamps only on a page's first write; a cache written that way needs
``ZOO_REMEMBER_CHECKS=0``. ``zoo hub push`` hashes what it publishes afresh. ``ZOO_REMEMBER_CHECKS=0`` turns the durable record off (each process
checks each file again).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from zoo.cache_dir import CHECKED, is_private, private_folder, switched_off, zoo_cache_dir

RACY_SECONDS = 2.0

Identity = tuple[int, int, int, int, int]

logger = logging.getLogger("zoo.checked_files")

_answers: dict[tuple[int, int, str], tuple[Identity, object]] = {}


def identity(path: str | Path) -> Identity:
    """(device, inode, size, mtime_ns, ctime_ns) of the file ``path`` points to (links followed)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def recall(before: Identity, check: str, *, durable: bool = False) -> object:
    """The answer remembered for ``check`` on the file whose identity is ``before``, else None.

    ``durable``: also look in the on-disk record (answers written by earlier processes).
    """
    key = (before[0], before[1], check)
    entry = _answers.get(key)
    if entry is not None and entry[0] == before:
        return entry[1]
    if not durable:
        return None
    # One read brings every durable answer about the file into this process's record.
    answers = _read_durable(before)
    for name, answer in answers.items():
        _answers[(before[0], before[1], name)] = (before, answer)
    return answers.get(check)


def remember(path: str | Path, before: Identity, check: str, answer: object, *, durable: bool = False) -> None:
    """Remember ``answer``, computed from the file as it was when ``before`` was taken.

    Nothing is remembered when the file changed meanwhile, or changed too recently to be
    told apart from a rewrite in the same timestamp tick. ``durable`` answers (JSON values)
    are also written to the on-disk record for later processes.
    """
    if not settled(path, before):
        return
    _answers[(before[0], before[1], check)] = (before, answer)
    if durable:
        _write_durable(before, check, answer)


def settled(path: str | Path, before: Identity) -> bool:
    """True when the file still has the identity ``before`` and last changed long enough ago
    (``RACY_SECONDS``) that any later rewrite is bound to change that identity."""
    try:
        now = identity(path)
    except OSError:
        return False
    return now == before and time.time_ns() - max(now[3], now[4]) >= RACY_SECONDS * 1e9


def forget_all() -> None:
    """Drop every answer remembered in this process (the on-disk record stays)."""
    _answers.clear()


def record_dir() -> Path | None:
    """``$ZOO_CACHE_DIR/checked``, the on-disk record's folder (:mod:`zoo.cache_dir`), or None
    when ``ZOO_REMEMBER_CHECKS=0`` turns it off. Read from the environment at each call."""
    return None if switched_off("ZOO_REMEMBER_CHECKS") else zoo_cache_dir() / CHECKED


# ----------------------------------------------------------------------------- the on-disk record
def _record_file(folder: Path, ident: Identity) -> Path:
    return folder / f"{ident[0]}-{ident[1]}.json"


def _read_durable(ident: Identity) -> dict:
    folder = record_dir()
    if folder is None:
        return {}
    try:
        with open(_record_file(folder, ident), "rb") as f:
            record = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("identity") != list(ident) or not is_private(folder):
        return {}
    answers = record.get("answers")
    return answers if isinstance(answers, dict) else {}


def _write_durable(ident: Identity, check: str, answer: object) -> None:
    """Add ``check``'s answer to the file's record: atomically, and silently skipped where the
    folder cannot be written (a read-only home, a full disk) or is not private."""
    if record_dir() is None:
        return
    folder = private_folder(CHECKED)
    if folder is None:
        logger.debug("no usable checked-files record folder under %s", zoo_cache_dir())
        return
    try:
        answers = dict(_read_durable(ident), **{check: answer})
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".record-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"identity": list(ident), "answers": answers}, f)
            os.replace(tmp, _record_file(folder, ident))
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        logger.debug("could not write the checked-files record in %s: %s", folder, exc)
