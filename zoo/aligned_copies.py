"""64-byte aligned copies of weight files whose tensors are not aligned, kept in the zoo cache.

Why: safetensors maps a file and hands out tensors that point into the mapping, at the file's
own offsets. :func:`zoo.safetensors_file.load_file` copies every tensor that does not start 64-byte
aligned into fresh memory, because some CPU kernels round differently on unaligned memory
(outputs after a round trip would not be bit-identical). Files the zoo writes
(:mod:`zoo.aligned_save`) need no copy, but files written by others (timm's Hub uploads) have
almost every tensor unaligned: copying a 47 MB resnet18 doubled a warm create.

So the first load of such a file from the Hub cache (immutable, and loaded again and again;
not a local checkpoint passed as ``weights=``, which may be one of many) also writes an
aligned copy under ``$ZOO_CACHE_DIR/aligned`` (:mod:`zoo.cache_dir`), and later loads, in any
process, map that copy and touch no tensor data. A copy is named after its source's identity
(:func:`zoo.checked_files.identity`): once the source changes, the copy no longer applies. It
is written only from tensors that passed the loader's checks. Each new copy also removes the
copies whose source is gone or changed, so the folder holds copies of current files only.

The cost is disk space: the copy is as large as the file (``zoo cache`` shows it, ``zoo cache
--clear`` deletes it). Files with less than ``MIN_UNALIGNED_BYTES`` to copy get no copy
(copying them in memory is cheaper than a file). ``ZOO_ALIGNED_COPIES=0`` turns copies off.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zoo.cache_dir import ALIGNED, is_private, private_folder, switched_off, zoo_cache_dir
from zoo.checked_files import Identity, identity, settled

MIN_UNALIGNED_BYTES = 1 << 20
STALE_TMP_SECONDS = 600  # a copy takes well under a second to write
SOURCE_KEY = "zoo.aligned_copy_of"  # the copy's safetensors metadata: the source file's path

logger = logging.getLogger("zoo.aligned_copies")


def find(source: Identity) -> Path | None:
    """The aligned copy made from the file whose identity is ``source``, if one exists and the
    cache folder is private; the caller still checks that its header matches the source's."""
    if switched_off("ZOO_ALIGNED_COPIES"):
        return None
    folder = zoo_cache_dir() / ALIGNED
    copy = folder / _name(source)
    return copy if copy.is_file() and is_private(folder) else None


def make(path: str | Path, source: Identity, state: dict) -> Path | None:
    """Write ``state`` (the checked tensors read from ``path`` while its identity was ``source``)
    as its aligned copy, then remove the copies whose source is gone or changed. Returns the
    copy, or None where none is made: the file changed meanwhile or too recently to be told
    apart from a rewrite (:func:`zoo.checked_files.settled`), or it cannot be written (no
    private folder, a full disk). Loading goes on without it."""
    if switched_off("ZOO_ALIGNED_COPIES") or not settled(path, source):
        return None
    folder = private_folder(ALIGNED)
    if folder is None:
        logger.debug("no usable folder for aligned copies under %s", zoo_cache_dir())
        return None
    from zoo.aligned_save import save_file  # imports torch; only reached while loading weights

    copy = folder / _name(source)
    try:
        save_file(state, copy, metadata={SOURCE_KEY: str(Path(path).resolve())})
    except (OSError, ValueError) as exc:  # no space, no permission; a tensor it cannot store
        logger.debug("could not write the aligned copy %s: %s", copy, exc)
        return None
    _remove_outdated(folder)
    return copy


def discard(copy: Path) -> None:
    """Remove a copy that turned out unusable (a header that does not match its source)."""
    copy.unlink(missing_ok=True)


def _remove_outdated(folder: Path) -> None:
    """Remove copies whose source file no longer exists or no longer has the identity the
    copy was made from (a new version of a file usually has a new inode: a new name here), and
    half-written copies left by a killed process (``.*.tmp``, untouched for ``STALE_TMP_SECONDS``)."""
    import time

    from safetensors import safe_open

    for tmp in folder.glob(".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:  # not one being written now
                tmp.unlink()
        except OSError:
            pass
    for copy in folder.glob("*.safetensors"):
        try:
            with safe_open(str(copy), framework="pt") as f:
                source = (f.metadata() or {}).get(SOURCE_KEY)
            current = _name(identity(source)) if source else None
        except Exception:  # noqa: BLE001 - an unreadable copy or a vanished source: outdated
            current = None
        if current != copy.name:
            copy.unlink(missing_ok=True)


def _name(source: Identity) -> str:
    return "-".join(str(part) for part in source) + ".safetensors"
