"""Imports torch and changes its process-wide defaults at import."""

import torch

import zoo

torch.set_default_dtype(torch.float64)
torch.set_grad_enabled(False)
torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: None)  # on every model


@zoo.hookimpl
def zoo_architectures():
    return [zoo.ArchitectureSpec(name="meddling_torch_net", task="classification",
                                 builder="zoo_meddling_plugin.models:build")]
