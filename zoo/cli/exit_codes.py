"""The exit status of every ``zoo`` command (README.md, "Exit codes")."""

EXIT_OK = 0
EXIT_PROBLEM = 1  # the command ran and found a problem: a failed check, a broken plugin
EXIT_USAGE = 2  # bad arguments (a UsageError, a zoo.ArgumentError), or a name that resolves to nothing or to two plugins
EXIT_RUNTIME = 3  # the work itself failed: a download, an unreadable file, a bad config
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


def exit_status(error: Exception) -> int:
    """The status for an error the zoo raised on purpose (a :class:`zoo.ZooError`): bad usage (a name
    that resolves to nothing or to two plugins, an argument that cannot apply, a command's own
    ``UsageError``) or the work failing. For every front end: ``zoo`` and the plugins' scripts."""
    from zoo.cli.usage_error import UsageError
    from zoo.errors import AmbiguousNameError, ArgumentError, UnknownNameError

    return EXIT_USAGE if isinstance(error, (UsageError, AmbiguousNameError, ArgumentError, UnknownNameError)) \
        else EXIT_RUNTIME


class ReportedInterrupt(KeyboardInterrupt):
    """An interruption a nested ``zoo`` command (run in-process, as ``zoo demo`` does) has already
    reported: it stops the outer command too, without a second "zoo: interrupted"."""
