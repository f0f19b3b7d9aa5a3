"""What a command prints after its reader has gone (``zoo predict ... | head -1``), or where it
cannot print as asked.

The reader leaving must not stop the work: a command that writes files or downloads weights
goes on (and exits as its work says), and only its remaining output is dropped, as the Python
docs advise for SIGPIPE: the standard output is pointed at ``os.devnull``. So is output with no
standard output at all (a daemon, ``>&-``). A path the output's encoding cannot show (an ASCII
locale) is printed with backslash escapes, as Python prints errors, not raised after the work.
"""

from __future__ import annotations

import contextlib
import os
import sys


class _OutputUntilReaderLeaves:
    """``sys.stdout`` as it was, until a write or flush finds the pipe closed."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream is None:  # no standard output (Python sets None where file 1 is closed)
            return len(text)
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            return self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        except BrokenPipeError:
            self._drop_the_rest()
            return len(text)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop_the_rest()

    def _drop_the_rest(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def output_until_reader_leaves():
    """Run a command with :class:`_OutputUntilReaderLeaves` as ``sys.stdout``, then put it back."""
    original = sys.stdout
    sys.stdout = _OutputUntilReaderLeaves(original)
    try:
        yield
    finally:
        sys.stdout = original
