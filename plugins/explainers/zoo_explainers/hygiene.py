"""Leave the model exactly as found: the state an explanation may touch is saved and restored.

An explanation needs gradients, eval-mode layers and sometimes forward hooks. None of that may
leak: hooks are removed in ``finally`` (also when the call raises), the training flag of every
module, each parameter's ``requires_grad`` and ``.grad`` are put back, and gradients are
enabled inside even when the caller runs under ``torch.no_grad()`` or ``torch.inference_mode()``.
Explanations in one process take turns (one lock), and one nested in another (from its
``score_fn``) must explain a model that shares no module with the outer one.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from zoo_explainers.errors import NestedExplanationError, UnsupportedModelError

# An explanation changes state owned by every module it runs (requires_grad, training flags,
# patched methods, swapped parameters) for its whole length, and models may share modules (a
# wrapper and the model inside it): so explanations take turns process-wide. Re-entrant, for an
# explanation of another model from inside a score_fn.
_turns = threading.RLock()
_explaining = threading.local()  # .modules: ids of the modules the current thread's explanations run


def _after_fork_in_child() -> None:
    """A fork while another thread explains copies ``_turns`` held, by a thread the child lacks."""
    global _turns
    _turns = threading.RLock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class HookBag:
    """Handles of hooks registered during one call; :func:`explaining` removes them all."""

    def __init__(self) -> None:
        self.handles: list = []
        self.restores: list = []  # callables undoing non-hook patches (e.g. a wrapped method)

    def add(self, handle) -> None:
        self.handles.append(handle)

    def forward_hook(self, module: nn.Module, hook) -> None:
        """``module.register_forward_hook(hook)``, kept for removal; a TorchScript module (a scripted
        part of an eager model) runs no Python hooks: an :class:`UnsupportedModelError` saying so."""
        if isinstance(module, torch.jit.ScriptModule):
            raise UnsupportedModelError(
                f"the layer hooked, a {type(module).__name__} ({getattr(module, 'original_name', '?')}), is "
                "TorchScript, which runs no Python hooks; pass target_layer= a Python module around it, or "
                "explain the eager model")
        self.add(module.register_forward_hook(hook))

    def on_exit(self, undo) -> None:
        self.restores.append(undo)

    def close(self) -> None:
        while self.handles:
            self.handles.pop().remove()
        while self.restores:
            self.restores.pop()()


def unwrapped(model: nn.Module) -> nn.Module:
    """The module a wrapper runs: ``torch.compile``'s (``_orig_mod``), whose code the compiled
    wrapper calls, so hooks, patched methods and the per-model lock must be on it; and
    ``nn.DataParallel``'s or ``DistributedDataParallel``'s (``module``), which is explained on its
    own device (a batch of explanations gains nothing from splitting, and the wrapper hides
    ``forward_features``/``get_classifier`` from CAM)."""
    while True:
        if isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


@contextmanager
def explaining(model: nn.Module) -> Iterator[HookBag]:
    """Eval mode, frozen parameters, gradients on; everything restored on exit.

    Parameters are frozen so that the backward pass computes only what an explanation needs
    (gradients with respect to the input or a feature map), never parameter gradients. Calls
    from several threads run one at a time (each would restore the others' changes).
    """
    model = unwrapped(model)
    with _turns:
        busy = getattr(_explaining, "modules", set())
        mine = {id(m) for m in model.modules()}
        if busy & mine:
            raise NestedExplanationError(
                f"{type(model).__name__} shares modules with the model already being explained (a score_fn "
                "calling zoo.explain on it?): the inner call would overwrite the outer one's hooks and saved "
                "state. Compute what the score_fn needs before the explanation, or on a copy of the model")
        _explaining.modules = busy | mine
        try:
            with _restored(model) as bag:
                yield bag
        finally:
            _explaining.modules = busy


@contextmanager
def _restored(model: nn.Module) -> Iterator[HookBag]:
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    bag = HookBag()
    try:
        try:
            model.eval()
        except NotImplementedError:  # a torch.export'ed module refuses it (it runs as it was exported),
            for m, _ in modes:  # and raises part-way through: the others are put in eval mode one by one
                m.training = False
        for p, _, _ in params:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            yield bag
    finally:
        def put_back():
            bag.close()
            for m, training in modes:
                m.training = training
            for p, requires_grad, grad in params:
                p.requires_grad_(requires_grad)
                if p.grad is not grad:
                    p.grad = grad

        _to_the_end(put_back)


def _to_the_end(restore) -> None:
    """Run ``restore`` (idempotent) to its end: a Ctrl-C landing inside it is raised after it, not in
    the middle, where it left part of the model's parameters frozen for good."""
    interrupted = None
    while True:
        try:
            restore()
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
