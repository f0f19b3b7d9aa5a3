"""Snapshots of everything an explainer could leave changed on a model or an input tensor:
hooks (module, parameter and global), training flags, parameters, buffers, ``requires_grad``,
``.grad``. Comparing two snapshots names each difference."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.modules.module as module_globals

from zoo.torch_state import GLOBAL_HOOK_DICTS

_TENSOR_HOOK_ATTRS = ("_backward_hooks", "_post_accumulate_grad_hooks")


def hooks(model: torch.nn.Module) -> dict[str, tuple]:
    """Every hook registered on ``model`` (forward, backward, state-dict...: each ``*_hooks*`` dict of
    each module), its parameters, and torch's global module hooks."""
    found: dict[str, tuple] = {}
    for name, module in model.named_modules():
        for attr, table in sorted(vars(module).items()):
            ids = tuple(table) if "_hooks" in attr and isinstance(table, dict) else ()
            if ids:
                found[f"module {name or '<root>'} {attr}"] = ids
    for name, param in model.named_parameters():
        for attr in _TENSOR_HOOK_ATTRS:
            ids = tuple(getattr(param, attr, None) or {})
            if ids:
                found[f"parameter {name} {attr}"] = ids
    for attr in GLOBAL_HOOK_DICTS:
        ids = tuple(getattr(module_globals, attr, {}) or {})
        if ids:
            found[f"global nn.Module {attr}"] = ids
    return found


def hook_changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = []
    for where in sorted(set(before) | set(after)):
        old, new = set(before.get(where, ())), set(after.get(where, ()))
        if new - old:
            changes.append(f"{len(new - old)} hook(s) left on {where}")
        if old - new:
            changes.append(f"{len(old - new)} pre-existing hook(s) removed from {where}")
    return changes


def patches(model: torch.nn.Module) -> dict[str, tuple[frozenset, tuple]]:
    """Per module: the names set on the instance (a ``forward`` assigned there is a hook in
    disguise) and the identity of each child (a wrapped or swapped submodule)."""
    return {name or "<root>": (frozenset(k for k in vars(module) if not k.startswith("_")),
                               tuple((k, id(c)) for k, c in module._modules.items()))
            for name, module in model.named_modules()}


def patch_changes(before: dict, after: dict) -> list[str]:
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in after or name not in before:
            changes.append(f"module {name} {'removed' if name not in after else 'added'}")
            continue
        (old_attrs, old_children), (new_attrs, new_children) = before[name], after[name]
        added = sorted(new_attrs - old_attrs)
        if added:
            changes.append(f"{', '.join(added)} set on the instance of module {name} and left there "
                           f"(e.g. a replaced forward)")
        if old_children != new_children:
            changes.append(f"submodules of {name} replaced")
    return changes


@dataclass
class ModelState:
    training: dict[str, bool]
    requires_grad: dict[str, bool]
    grads: dict[str, torch.Tensor | None]
    values: dict[str, torch.Tensor]
    hooks: dict[str, tuple]


def snapshot(model: torch.nn.Module) -> ModelState:
    return ModelState(
        training={n or "<root>": m.training for n, m in model.named_modules()},
        requires_grad={n: p.requires_grad for n, p in model.named_parameters()},
        grads={n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()},
        values={n: t.detach().clone() for n, t in model.state_dict(keep_vars=True).items()},
        hooks=hooks(model),
    )


def model_changes(before: ModelState, model: torch.nn.Module, *, values: bool = True,
                  hooks: bool = True) -> list[str]:
    """What differs on ``model`` since ``before``; ``values=False`` ignores parameter/buffer
    values (a train-mode forward legitimately updates BatchNorm statistics), ``hooks=False``
    leaves hooks to their own check."""
    after = snapshot(model)
    changes = hook_changes(before.hooks, after.hooks) if hooks else []
    flipped = [n for n in before.training if after.training.get(n) != before.training[n]]
    if flipped:
        changes.append(f"training flag changed on {_names(flipped)} (was {before.training[flipped[0]]})")
    rg = [n for n in before.requires_grad if after.requires_grad.get(n) != before.requires_grad[n]]
    if rg:
        changes.append(f"requires_grad changed on {_names(rg)} (was {before.requires_grad[rg[0]]})")
    grads = [n for n in before.grads if not _same(before.grads[n], after.grads.get(n))]
    if grads:
        g = before.grads[grads[0]]
        changes.append(f".grad changed on {_names(grads)} (was {'None' if g is None else 'a tensor'})")
    if values:
        moved = [n for n in before.values if not _same(before.values[n], after.values.get(n))]
        if moved:
            changes.append(f"parameter/buffer values changed: {_names(moved)}")
    return changes


def input_changes(original: torch.Tensor, requires_grad: bool, grad, x: torch.Tensor) -> list[str]:
    changes = []
    if not torch.equal(original, x.detach()):
        changes.append("the input tensor was modified in place")
    if x.requires_grad != requires_grad:
        changes.append(f"the input's requires_grad changed from {requires_grad} to {x.requires_grad}")
    if not _same(grad, x.grad):
        changes.append(f"the input's .grad changed (was {'None' if grad is None else 'a tensor'})")
    if x._backward_hooks:  # the checks pass fresh tensors: any hook is the explainer's
        changes.append(f"{len(x._backward_hooks)} hook(s) left on the input tensor (Tensor.register_hook: remove "
                       f"the handle in finally, or hook a copy)")
    return changes


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and torch.equal(a, b.detach())


def _names(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
