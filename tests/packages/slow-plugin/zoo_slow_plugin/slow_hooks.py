"""A hook module that is slow to import itself, or whose hook is slow: every listing pays for it.
With ZOO_NOISY_HOOKS set it also prints, on import and in its hook."""

import os
import time

import zoo

time.sleep(float(os.environ.get("ZOO_SLOW_HOOKS_SECONDS", "0")))
if os.environ.get("ZOO_NOISY_HOOKS"):
    print("NOISE FROM A HOOK MODULE'S IMPORT")


@zoo.hookimpl
def zoo_architectures():
    time.sleep(float(os.environ.get("ZOO_SLOW_HOOK_CALL_SECONDS", "0")))
    if os.environ.get("ZOO_NOISY_HOOKS"):
        print("NOISE FROM A HOOK")
    return [zoo.ArchitectureSpec(name="slow_hooks_net", task="classification", builder="zoo_slow_plugin.models:build")]
