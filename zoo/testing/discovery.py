"""The registry as the suite's pytest front end gets it: a broken plugin is not the test run's failure.

A plugin author's checks must not fail because someone else's plugin, installed beside theirs,
is broken or warns: under ``-W error`` (or ``filterwarnings = error``) the registry's
PluginWarnings, or a hook's own warning (the timm bridge's index built from another timm), would
become errors in collection or in every test class's setup. So the pytest plugin and the base
classes discover plugins without giving those warnings, and note the broken plugins here; the
pytest plugin lists them in its terminal summary instead.
"""

from __future__ import annotations

# (plugin name, distribution, version) -> its errors; environment problems under ("", "", "").
BROKEN: dict[tuple[str, str, str], list[str]] = {}


def suite_registry():
    """The process-wide registry, discovered without giving its warnings (none becomes an error);
    its broken plugins are noted in :data:`BROKEN` (those of the latest registry)."""
    from zoo.registry import get_registry_quietly

    registry = get_registry_quietly()
    BROKEN.clear()  # the registry in use now (a rediscovery replaces the earlier one)
    for plugin in registry.plugins:
        if plugin.errors:
            BROKEN[(plugin.name, plugin.distribution, plugin.version)] = list(plugin.errors)
    if registry.problems:
        BROKEN[("", "", "")] = list(registry.problems)
    return registry


def summary_lines() -> list[str]:
    """What the terminal summary shows: one line per broken plugin and error."""
    lines = []
    for (name, dist, version), errors in sorted(BROKEN.items()):
        where = f"plugin {name!r} ({dist} {version})".replace(" )", ")") if name else "settings"
        lines += [f"{where}: {error}" for error in errors]
    return lines
