"""Cheap hook module: the slow import is behind the lazy builder string."""

import zoo


@zoo.hookimpl
def zoo_architectures():
    return [zoo.ArchitectureSpec(name="slow_net", task="classification", builder="zoo_slow_plugin.models:build")]
