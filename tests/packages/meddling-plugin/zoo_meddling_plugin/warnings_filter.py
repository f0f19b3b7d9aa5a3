"""Turns every warning into an error at import, as a debugging leftover would."""

import warnings

import zoo

warnings.simplefilter("error")


@zoo.hookimpl
def zoo_architectures():
    return [zoo.ArchitectureSpec(name="meddling_filter_net", task="classification",
                                 builder="zoo_meddling_plugin.models:build")]
