"""Leave the model exactly as found: the state an explanation may touch is saved and restored.

An explanation needs gradients, eval-mode layers and sometimes forward hooks. None of that may
leak: hooks are removed in ``finally`` (also when the call raises), the training flag of every
module, each parameter's ``requires_grad`` and ``.grad`` are put back, and gradients are
enabled inside even when the caller runs under ``torch.no_grad()`` or ``torch.inference_mode()``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class HookBag:
    """Handles of hooks registered during one call; :func:`explaining` removes them all."""

    def __init__(self) -> None:
        self.handles: list = []
        self.restores: list = []  # callables undoing non-hook patches (e.g. a wrapped method)

    def add(self, handle) -> None:
        self.handles.append(handle)

    def on_exit(self, undo) -> None:
        self.restores.append(undo)

    def close(self) -> None:
        while self.handles:
            self.handles.pop().remove()
        while self.restores:
            self.restores.pop()()


@contextmanager
def explaining(model: nn.Module) -> Iterator[HookBag]:
    """Eval mode, frozen parameters, gradients on; everything restored on exit.

    Parameters are frozen so that the backward pass computes only what an explanation needs
    (gradients with respect to the input or a feature map), never parameter gradients.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    bag = HookBag()
    try:
        model.eval()
        for p, _, _ in params:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            yield bag
    finally:
        bag.close()
        for m, training in modes:
            m.training = training
        for p, requires_grad, grad in params:
            p.requires_grad_(requires_grad)
            if p.grad is not grad:
                p.grad = grad
