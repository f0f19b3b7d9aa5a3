"""The snapshot the explainer checks compare sees every kind of leftover."""

from __future__ import annotations

import torch

from zoo.testing.hygiene import (hook_changes, hooks, input_changes, model_changes, patch_changes, patches,
                                 snapshot)
from zoo.testing.reference import ReferenceClassifier


def test_every_hook_kind_is_seen_and_removal_of_a_users_hook_too():
    model = ReferenceClassifier()
    user = model.fc.register_forward_hook(lambda *a: None)
    before = hooks(model)
    handles = [model.features[0].register_forward_pre_hook(lambda *a: None),
               model.fc.weight.register_hook(lambda g: g),
               torch.nn.modules.module.register_module_forward_hook(lambda *a: None)]
    user.remove()
    changes = hook_changes(before, hooks(model))
    for h in handles:
        h.remove()
    text = "; ".join(changes)
    assert "hook(s) left on module features.0 _forward_pre_hooks" in text
    assert "parameter fc.weight _backward_hooks" in text
    assert "global nn.Module _global_forward_hooks" in text
    assert "pre-existing hook(s) removed from module fc _forward_hooks" in text


def test_state_changes_are_named():
    model = ReferenceClassifier().eval()
    before = snapshot(model)
    model.features[0].train()
    model.fc.weight.requires_grad_(False)
    model.fc.bias.grad = torch.zeros_like(model.fc.bias)
    with torch.no_grad():
        model.features[1].running_mean += 1
    text = "; ".join(model_changes(before, model))
    assert "training flag changed on features.0" in text
    assert "requires_grad changed on fc.weight" in text
    assert ".grad changed on fc.bias (was None)" in text
    assert "features.1.running_mean" in text
    assert "running_mean" not in "; ".join(model_changes(before, model, values=False))


def test_input_changes():
    x = torch.rand(1, 3, 4, 4)
    original = x.clone()
    x.add_(1).requires_grad_(True)
    assert input_changes(original, False, None, x) == [
        "the input tensor was modified in place", "the input's requires_grad changed from False to True"]
    leaf = original.clone().requires_grad_(True)
    leaf.register_hook(lambda grad: grad)
    assert input_changes(original, True, None, leaf) == [
        "1 hook(s) left on the input tensor (Tensor.register_hook: remove the handle in finally, or hook a copy)"]


def test_a_replaced_forward_or_submodule_is_seen():
    model = ReferenceClassifier()
    before = patches(model)
    model.fc.forward = lambda x: x
    model.features[2] = torch.nn.ReLU()
    text = "; ".join(patch_changes(before, patches(model)))
    assert "forward set on the instance of module fc" in text
    assert "submodules of features replaced" in text
