"""The exit status of every ``zoo`` command (README.md, "Exit codes")."""

EXIT_OK = 0
EXIT_PROBLEM = 1  # the command ran and found a problem: a failed check, a broken plugin
EXIT_USAGE = 2  # bad arguments (a UsageError, a zoo.ArgumentError), or a name that resolves to nothing or to two plugins
EXIT_RUNTIME = 3  # the work itself failed: a download, an unreadable file, a bad config
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


class ReportedInterrupt(KeyboardInterrupt):
    """An interruption a nested ``zoo`` command (run in-process, as ``zoo demo`` does) has already
    reported: it stops the outer command too, without a second "zoo: interrupted"."""
