"""One naming rule for the files ``zoo predict`` and ``zoo explain`` write beside each other."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable


def unique_stem(stem: str, taken: Callable[[str], bool]) -> str:
    """``stem``, else ``stem-2``, ``stem-3``... the first that ``taken`` does not claim."""
    candidate, count = stem, 1
    while taken(candidate):
        count += 1
        candidate = f"{stem}-{count}"
    return candidate


class OutputNames:
    """Names of the files a command writes into ``folder``: an output never replaces an input image
    (one in the folder, or one a link there leads to: paths are compared resolved) nor an earlier
    output (inputs sharing a file name); a taken name gets ``-2``, ``-3``... after the stem."""

    def __init__(self, folder: Path, inputs: Iterable[str | Path]) -> None:
        self.folder = folder
        self.inputs = {Path(p).resolve() for p in inputs}
        self.written: set[str] = set()

    def path(self, stem: str, suffix: str) -> Path:
        """``folder/<stem><suffix>``, or the first free ``folder/<stem>-N<suffix>``."""
        def taken(candidate: str) -> bool:
            path = self.folder / f"{candidate}{suffix}"
            return path.name in self.written or path.resolve() in self.inputs

        path = self.folder / f"{unique_stem(stem, taken)}{suffix}"
        self.written.add(path.name)
        return path
