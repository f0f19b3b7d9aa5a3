"""``zoo doctor``: every plugin, what it registered, and what went wrong."""

from __future__ import annotations

import argparse
import warnings

from zoo.registry import PluginWarning, get_registry


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="report every plugin and every failure",
                              description="List each plugin with its distribution, version and what it "
                                          "registered; list each failure and each name claimed twice. "
                                          "Exits 1 if anything is wrong.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # reported below, in full
        registry = get_registry()
    ok = True
    for plugin in registry.plugins:
        status = "ok" if plugin.loaded and not plugin.errors else ("partial" if plugin.loaded else "FAILED")
        print(f"{plugin.name}  [{plugin.distribution} {plugin.version}]  {status}  ({plugin.module})")
        if plugin.architectures:
            print(f"    architectures ({len(plugin.architectures)}): {_short(plugin.architectures)}")
        if plugin.explainers:
            print(f"    explainers ({len(plugin.explainers)}): {_short(plugin.explainers)}")
        for error in plugin.errors:
            ok = False
            print(f"    error: {error}")
    for name, dists in registry.conflicts().items():
        ok = False
        print(f"conflict: {name} is registered by {', '.join(dists)}; use 'DIST:NAME' or ZOO_DISABLE_PLUGINS")
    if not registry.plugins:
        print("no plugins found in the 'zoo' entry-point group")
    print("all plugins healthy" if ok else "problems found")
    return 0 if ok else 1


def _short(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
