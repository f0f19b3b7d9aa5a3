"""The pluggy hook specifications a plugin implements.

A plugin module is any module named by a ``[project.entry-points.zoo]`` entry point. It
implements one or both hooks below with ``@zoo.hookimpl``; each returns plain specs (data),
so importing the module must stay cheap: keep model code behind ``"module:function"`` builders.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def zoo_architectures():
    """Return a list of :class:`zoo.ArchitectureSpec` this plugin provides."""


@hookspec
def zoo_explainers():
    """Return a list of :class:`zoo.ExplainerSpec` this plugin provides."""
