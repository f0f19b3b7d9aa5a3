"""One plugin as the registry loaded it, and the names a user may call it by.

A plugin is named three ways: its distribution (``visionzoo-segmentation``), its entry-point name
(``segmentation``) and both (``visionzoo-segmentation:segmentation``), each spelt any way PEP 503
allows. ``ZOO_PLUGINS``, ``--plugin`` and a qualified model name (``label:NAME``) take any of them.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field


@dataclass
class PluginRecord:
    """One loaded (or failed) plugin, as ``zoo doctor`` reports it."""

    name: str
    distribution: str
    version: str
    module: str
    architectures: list[str] = field(default_factory=list)
    explainers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # spec name -> why it was not registered
    loaded: bool = False
    import_seconds: float = 0.0
    hook_seconds: float = 0.0  # its hooks' calls at discovery: paid by every listing too
    imported_torch: bool = False  # its hook module brought torch into a listing (DESIGN: it must not)
    warnings: list[str] = field(default_factory=list)  # what its hooks warned about while registering

    @property
    def partly_loaded(self) -> bool:
        """Whether it loaded and registered something: beside errors, it "loaded with errors"
        (``zoo doctor``'s "partial"); without, it "failed to load", having registered nothing."""
        return self.loaded and bool(self.architectures or self.explainers)

    @property
    def names(self) -> set[str]:
        """What a qualifier (``dist:name``), ZOO_PLUGINS or ``--plugin`` may call it."""
        return plugin_names(self.distribution, self.name)

    def answers_to(self, name: str) -> bool:
        return normalize_distribution(name) in self.names

    def answers_to_pattern(self, pattern: str) -> bool:
        """:meth:`answers_to` for an fnmatch pattern (``visionzoo-*``), as listings take qualifiers."""
        return any(fnmatch.fnmatchcase(label, normalize_distribution(pattern)) for label in self.names)


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation, so 'My_Plugin' and 'my-plugin' name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_names(distribution: str, entry_point: str) -> set[str]:
    """The names a plugin answers to, normalised: its distribution, its entry-point name, and
    ``distribution:entry-point`` (the form ``zoo doctor`` prints for a plugin left out)."""
    dist, ep = normalize_distribution(distribution), normalize_distribution(entry_point)
    return {dist, ep, f"{dist}:{ep}"}


def claim_label(plugins: list[PluginRecord], plugin: PluginRecord) -> str:
    """What names ``plugin``'s claim among ``plugins`` (all claiming one name) before ``:NAME``
    (:func:`plugin_labels`); ``""`` when it is the only claim, whose bare name is enough."""
    if len(plugins) < 2:
        return ""
    mine = (plugin.name, plugin.distribution)
    return next((label for label, p in zip(plugin_labels(plugins), plugins) if (p.name, p.distribution) == mine),
                plugin.distribution)


def plugin_labels(plugins: list[PluginRecord]) -> list[str]:
    """What names each plugin claiming one name in a qualified ``label:name``: the first of its
    distribution, its entry-point name and ``distribution:entry-point`` that none of the other
    claimants answers to (an entry point may be named like a distribution; the last form always
    singles one out)."""
    labels = []
    for plugin in plugins:
        others = [p for p in plugins if p is not plugin]
        for label in (plugin.distribution, plugin.name, f"{plugin.distribution}:{plugin.name}"):
            if not any(other.answers_to(label) for other in others):
                break
        labels.append(label)
    return labels
