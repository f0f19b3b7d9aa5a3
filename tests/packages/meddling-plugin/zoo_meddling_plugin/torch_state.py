"""Imports torch and changes its process-wide defaults at import."""

import torch

import zoo

torch.set_default_dtype(torch.float64)
torch.set_grad_enabled(False)


@zoo.hookimpl
def zoo_architectures():
    return [zoo.ArchitectureSpec(name="meddling_torch_net", task="classification",
                                 builder="zoo_meddling_plugin.models:build")]
