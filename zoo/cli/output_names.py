"""One naming rule for the files ``zoo predict`` and ``zoo explain`` write beside each other."""

from __future__ import annotations

from typing import Callable


def unique_stem(stem: str, taken: Callable[[str], bool]) -> str:
    """``stem``, else ``stem-2``, ``stem-3``... the first that ``taken`` does not claim (inputs
    sharing a file name, or an input image in the output folder, are never overwritten)."""
    candidate, count = stem, 1
    while taken(candidate):
        count += 1
        candidate = f"{stem}-{count}"
    return candidate
