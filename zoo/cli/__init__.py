"""The ``zoo`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module adds its
parser and sets ``func`` to a function ``(args) -> exit code``; it raises
``zoo.cli.usage_error.UsageError`` for arguments it cannot run with. Add a module to
``COMMAND_MODULES`` to add a command.

Exit codes: see ``zoo.cli.exit_codes``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from zoo.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, ReportedInterrupt, exit_status
from zoo.cli.pipe_output import output_until_reader_leaves
from zoo.cli.signals import terminate_as_interrupt
from zoo.cli.usage_error import UsageError
from zoo.errors import ZooError

COMMAND_MODULES = (
    "zoo.cli.listing",
    "zoo.cli.doctor",
    "zoo.cli.check",
    "zoo.cli.predict",
    "zoo.cli.train",
    "zoo.cli.evaluate",
    "zoo.cli.demo",
    "zoo.cli.hub",
    "zoo.cli.download",
    "zoo.cli.cache",
    "zoo.cli.explain",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="visionzoo: list, build, check and explain vision models from plugins.",
    )
    import zoo

    parser.add_argument("--version", action="version", version=f"visionzoo {zoo.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"zoo: warning: {message}", file=sys.stderr)


def _discover_plugins() -> None:
    """Discover the plugins up front, their warnings shown as ``zoo: warning:`` lines and never
    raised: under PYTHONWARNINGS=error one broken plugin, or a hook's own warning (the timm
    bridge's index built from another timm), would otherwise stop every command. The caller's
    filters still apply, with "error" read as "default"."""
    from zoo.registry import PluginWarning, get_registry

    with warnings.catch_warnings():
        warnings.filters[:] = [("default", *rule[1:]) if rule[0] == "error" else rule for rule in warnings.filters]
        warnings.simplefilter("always", PluginWarning)  # also tells the warnings module its filters changed
        get_registry()


def main(argv: list[str] | None = None) -> int:
    shown = warnings.showwarning
    warnings.showwarning = _show_warning  # one readable line per warning, no source excerpt
    try:  # for this command only: `zoo demo`, tests and notebooks call main() in their own process
        return _run(build_parser().parse_args(argv))
    finally:
        warnings.showwarning = shown


def _run(args: argparse.Namespace) -> int:
    """The command ``args`` names, its errors turned into one line on stderr and an exit status."""
    try:
        # `zoo predict ... | head`: the work goes on, the output stops; SIGTERM stops it as Ctrl-C does
        with output_until_reader_leaves(), terminate_as_interrupt():
            if getattr(args, "plugins_up_front", True):  # not for commands that report plugins or use none
                _discover_plugins()
            return args.func(args)
    except UsageError as exc:  # a command's own check of its arguments (zoo.cli.usage_error)
        # a subcommand's parser may name itself in full: "zoo hub push", as argparse's own errors do
        print(f"{getattr(args, 'usage_prog', f'zoo {args.command}')}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ZooError as exc:  # a bad name or argument (exit 2), or the work failed (exit 3)
        print(f"zoo: error: {exc}", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError:  # a write that bypassed sys.stdout after its reader left: nothing more to say
        return EXIT_OK
    except OSError as exc:  # the system refused a path (too long, no permission, disk full): no traceback
        print(f"zoo: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt as exc:  # Ctrl-C (and SIGTERM where a command maps it): no traceback
        if not isinstance(exc, ReportedInterrupt):
            print("zoo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
