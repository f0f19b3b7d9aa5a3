"""``zoo check``: run the conformance suite and print a pass/fail/skip table.

Exit status 1 when any check fails, a selected plugin failed to load, or nothing was checked;
0 otherwise.
"""

from __future__ import annotations

import argparse
import time

from zoo.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from zoo.cli.usage_error import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check", help="check models and explainers against the contract",
        description="Run the conformance suite (zoo.testing) on registered models and explainers: each "
                    "check of the contract for the model's task, and the explainer checks on the suite's "
                    "own reference models. Prints one row per check; every failure names the contract "
                    "clause and the shapes or values involved. Exit status 1 on any failure, or when nothing "
                    "was checked.",
        epilog="--all leaves out the models whose plugin says so (ArchitectureSpec.check_all: the timm bridge's "
               "thousand-odd models); name them to check them, e.g. `zoo check timm/resnet18` or "
               "`zoo check 'timm/resnet*'`.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="model or explainer names or fnmatch patterns ('dist:name' picks one plugin)")
    p.add_argument("--all", action="store_true",
                   help="every registered model and explainer (but those their plugin leaves out, such as timm/*)")
    p.add_argument("--plugin", action="append", default=[], metavar="DIST",
                   help="everything one distribution (or entry-point name) registers; repeatable")
    p.add_argument("--checks", action="append", default=[], metavar="PATTERN",
                   help="only checks whose names match this fnmatch pattern (e.g. 'explainer_*'); repeatable")
    p.add_argument("--list-checks", action="store_true", help="list every check with its contract clause and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="show each check's full note")
    p.set_defaults(func=run, plugins_up_front=False)  # broken plugins are its FAIL rows


def run(args: argparse.Namespace) -> int:
    from zoo.testing.checks import all_checks
    from zoo.testing.results import FAIL, PASS, SKIP, CheckResult
    from zoo.testing.runner import run_subjects
    from zoo.testing.subjects import select

    if args.list_checks:
        for check in all_checks():
            tasks = ", ".join(check.tasks) if check.tasks else "all"
            print(f"{check.name}  [{check.kind}; {tasks}]\n    {check.clause}")
        return EXIT_OK
    if not (args.names or args.all or args.plugin):
        raise UsageError("name models or explainers, or use --all or --plugin DIST (see zoo check -h)")
    _refuse_unknown_check_patterns(args.checks, [check.name for check in all_checks()])
    from zoo.registry import get_registry_quietly

    # broken plugins are reported as failures below
    selection = select(args.names, all=args.all, plugins=args.plugin, registry=get_registry_quietly())

    label_width = max([len(f"{s.kind} {s.label}") for s in selection.subjects] + [20])
    check_width = max(len(c.name) for c in all_checks())
    row = f"{{:<{label_width}}}  {{:<{check_width}}}  {{:<4}}  {{:>6}}  {{}}"
    print(row.format("subject", "check", "res", "time", "note"))
    print(row.format("-" * label_width, "-" * check_width, "----", "------", "----"))

    def show(result: CheckResult) -> None:
        note = "see below" if result.failed else result.message
        if not args.verbose and len(note) > 70:
            note = note[:67] + "..."
        print(row.format(result.subject, result.check, result.status.upper(), f"{result.seconds:.1f}s", note),
              flush=True)

    start = time.perf_counter()
    results = []
    for plugin in selection.broken_plugins:
        result = CheckResult(f"plugin {plugin.name}", "plugin_loads", FAIL, "; ".join(plugin.errors),
                             "a plugin loads and every spec it returns is valid (zoo doctor)")
        results.append(result)
        show(result)
    results += run_subjects(selection.subjects, args.checks or None, on_result=show)
    elapsed = time.perf_counter() - start

    failures = [r for r in results if r.failed]
    for r in failures:
        print(f"\nFAILED {r.subject}: {r.check}\n  clause: {r.clause}\n  {r.message}")
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}
    print(f"\n{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
          f"({len(selection.subjects)} subject{'s' if len(selection.subjects) != 1 else ''}) in {elapsed:.1f}s")
    by_reason: dict[str, list[str]] = {}
    for name, why in selection.excluded.items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        print(f"left out {len(names)} model(s) ({', '.join(names[:2])}{', ...' if len(names) > 2 else ''}), as "
              f"their plugin asks: {why}")
    if not results:  # a run that checked nothing must not pass a CI job (pytest exits 5 for it)
        print("nothing was checked" + ("" if selection.subjects else ": no models or explainers selected"))
    return EXIT_PROBLEM if failures or not results else EXIT_OK


#: rows the report adds beside the checks' own, which ``--checks`` cannot select
REPORT_ROWS = {
    "plugin_loads": "a row the report adds for each plugin that fails to load, whatever --checks selects; "
                    "not a check to select",
    "coverage": "a row a full run adds for a subject none of whose checks could run; not a check to select "
                "(run without --checks to see it)",
}


def _refuse_unknown_check_patterns(patterns: list[str], names: list[str]) -> None:
    """A ``--checks`` pattern naming no check (a typo) is a usage error, not "nothing was checked"."""
    import fnmatch

    from zoo.names import close_names

    for pattern in patterns:
        if pattern in REPORT_ROWS:
            raise UsageError(f"--checks {pattern!r}: {REPORT_ROWS[pattern]}")
        if not fnmatch.filter(names, pattern):
            close = close_names(pattern, names)
            hint = f" (close: {', '.join(close)})" if close else ""
            raise UsageError(f"--checks {pattern!r} matches no check{hint}; `zoo check --list-checks` lists them")
