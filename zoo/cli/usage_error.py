"""The one way a ``zoo`` command says it cannot run as given.

A command raises :class:`UsageError` where it finds the bad usage, however deep; :func:`zoo.cli.main`
alone turns it into ``zoo <command>: error: <message>`` on stderr and exit 2, as argparse does
for what it checks itself. So no command prints its own usage errors or returns their code.
"""

from __future__ import annotations

from zoo.errors import ZooError


class UsageError(ZooError, ValueError):
    """A ``zoo`` command cannot run as asked (a missing image file, an option out of range, an
    option the method does not take); the message says what to give instead."""
