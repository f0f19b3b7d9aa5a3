"""A hook module that is slow to import itself: every listing pays for it."""

import os
import time

import zoo

time.sleep(float(os.environ.get("ZOO_SLOW_HOOKS_SECONDS", "0")))


@zoo.hookimpl
def zoo_architectures():
    return [zoo.ArchitectureSpec(name="slow_hooks_net", task="classification", builder="zoo_slow_plugin.models:build")]
