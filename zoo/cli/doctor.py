"""``zoo doctor``: every plugin, what it registered, and what went wrong."""

from __future__ import annotations

import argparse
import importlib.util

from zoo.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from zoo.registry import NO_PLUGINS, Registry, get_registry_quietly, keeping_each

SLOW_SECONDS = 0.5


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="report every plugin and every failure",
                              description="List each plugin with its distribution, version and what it "
                                          "registered; list each failure, each builder that cannot be "
                                          "found, slow plugin imports and each name claimed twice. "
                                          "Exits 1 if anything is wrong.")
    p.set_defaults(func=run, plugins_up_front=False)  # reports every plugin itself, in full


def run(args: argparse.Namespace) -> int:
    registry = get_registry_quietly()  # its warnings (PluginWarnings, the hooks' own) are reported below, in full
    problems = builder_problems(registry)
    ok = True
    for plugin in registry.plugins:
        errors = plugin.errors + problems.get(id(plugin), [])
        status = "ok" if plugin.loaded and not errors else ("partial" if plugin.partly_loaded else "FAILED")
        print(f"{plugin.name}  [{plugin.distribution} {plugin.version}]  {status}  ({plugin.module})")
        if plugin.architectures:
            print(f"    architectures ({len(plugin.architectures)}): {_short(plugin.architectures)}")
        if plugin.explainers:
            print(f"    explainers ({len(plugin.explainers)}): {_short(plugin.explainers)}")
        if plugin.import_seconds > SLOW_SECONDS:
            print(f"    slow: importing {plugin.module} took {plugin.import_seconds:.1f} s, paid by every "
                  f"listing; move model code behind 'module:function' builders")
        if plugin.hook_seconds > SLOW_SECONDS:
            print(f"    slow: its hooks took {plugin.hook_seconds:.1f} s, paid by every listing; return specs "
                  "(data) only, and do the work in the builders")
        if plugin.imported_torch:
            print(f"    slow: importing {plugin.module} imported torch, paid by every listing; hook modules "
                  "should import only zoo, with model code behind 'module:function' builders")
        for note in plugin.warnings:
            print(f"    warning: {note}")
        for error in errors:
            ok = False
            print(f"    error: {error}")
    for name, labels in registry.conflicts().items():
        ok = False
        bare = name.partition(" ")[2]
        print(f"conflict: {name} is registered by {', '.join(labels)}; use "
              f"{' or '.join(f'{label}:{bare}' for label in labels)}, or keep one "
              f"({'; '.join(keeping_each(labels))})")
    for problem in registry.problems:
        ok = False
        print(f"error: {problem}")
    if registry.left_out:
        print(f"not loaded (ZOO_PLUGINS / ZOO_DISABLE_PLUGINS): {', '.join(registry.left_out)}")
    if not registry.plugins:
        ok = ok and bool(registry.left_out)  # left out on purpose is fine; nothing installed is not
        print("no plugins loaded: every installed one is left out by ZOO_PLUGINS / ZOO_DISABLE_PLUGINS"
              if registry.left_out else f"error: {NO_PLUGINS}")
    warned = sum(len(p.warnings) for p in registry.plugins)
    if not ok:
        print("problems found")
    elif warned:
        print(f"all plugins loaded, with {warned} warning{'s' if warned > 1 else ''} (above)")
    else:
        print("all plugins healthy" if registry.plugins else "nothing loaded, on purpose")
    return EXIT_OK if ok else EXIT_PROBLEM


def builder_problems(registry: Registry) -> dict[int, list[str]]:
    """Builders given as 'module:function' whose module cannot be found (checked without
    running the module itself, though its parent packages are imported)."""
    problems: dict[int, list[str]] = {}
    for spec, plugin in registry.specs():
        if not isinstance(spec.builder, str):
            continue
        module = spec.builder.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except Exception:  # noqa: BLE001 - a parent package that fails to import
            found = False
        if not found:
            problems.setdefault(id(plugin), []).append(f"{spec.name}: builder module {module!r} not found (install the "
                                                      "distribution that provides it, or correct the spec's builder)")
    return problems


def _short(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
