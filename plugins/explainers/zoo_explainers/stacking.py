"""Noisy copies / path points stacked into a few forward/backward passes, laid out for speed.

Three choices, none of which changes a value (only strides and batch boundaries; the model's
gradients are per input in eval mode):

- Pass size (``chunk_size="auto"``): on the CPU, about :data:`PASS_BYTES` of stacked input per
  pass instead of everything at once. A pass over 64 resnet-stem activations allocates tensors
  of tens of MB, each zero-filled page by page by the kernel on first touch (page faults were
  about 20% of the time); smaller passes keep the peak, and what the allocator hands back to
  the kernel, small. Measured on 1 thread: 0.9x the one-pass time for timm resnet18 at 96x96,
  0.4-0.5x for the zoo's cnn_cam, unet, fcn8s and timm efficientnet_b0. On a GPU, everything
  in one pass while the device's memory allows; a pass that runs out of it is rerun in halves
  (:func:`each_pass`), so a large batch degrades to more passes instead of failing.
- channels_last (4-D CPU batches of models with an ``nn.Conv2d``): the stacked input is NHWC,
  so oneDNN runs convolutions, pooling and their backward passes without reordering
  activations (max pooling has a much faster NHWC kernel), and the Conv2d weights are used
  through channels_last copies made once per call (:func:`torch.func.functional_call`; the
  model's own parameters are never modified), instead of oneDNN copying every weight on every
  pass. A model whose forward fails on this (a ``.view`` assuming NCHW strides) is rerun
  as it is on the contiguous batch, and later calls skip the attempt (a weak set, not a flag on
  the model).
- One buffer: the copies are written straight into the tensor the model reads, with no
  intermediate ``noise * scale`` / ``a * diff`` tensors and no layout copy.
"""

from __future__ import annotations

import logging
import weakref
from typing import Callable, Iterator, TypeVar

import torch
from torch import nn

from zoo_explainers.targets import explained_output

_NCHW_ONLY: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()  # models that failed on channels_last
log = logging.getLogger("zoo.explain")
T = TypeVar("T")
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)  # torch < 2.5: CUDA's only

#: ``chunk_size="auto"`` on the CPU: about this many bytes of stacked input per pass ...
PASS_BYTES = 2 * 2**20
#: ... but never fewer model inputs than this per pass (tiny passes waste the kernels' width)
MIN_PASS_INPUTS = 4


def passes(copies: int, images: torch.Tensor, chunk_size: int | str | None) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of copies, each one forward/backward pass, of near-equal sizes.

    ``chunk_size`` caps the model inputs (copies x N images) per pass: None for all in one
    pass, ``"auto"`` for :data:`PASS_BYTES` of input on the CPU (all in one pass elsewhere).
    A pass holds at least one copy of the batch.
    """
    per_copy = images.shape[0]
    if chunk_size == "auto":
        if images.device.type != "cpu":
            chunk_size = None
        else:
            per_input = max(1, images[0].numel() * images.element_size())
            chunk_size = max(MIN_PASS_INPUTS, PASS_BYTES // per_input)
    step = copies if chunk_size is None else max(1, min(copies, chunk_size // per_copy))
    count = -(-copies // step)
    step = -(-copies // count)  # same number of passes, sizes balanced (no small last pass)
    for start in range(0, copies, step):
        yield start, min(copies, start + step)


def each_pass(copies: int, images: torch.Tensor, chunk_size: int | str | None,
              run_pass: Callable[[int, int], T]) -> Iterator[T]:
    """``run_pass(start, stop)`` over consecutive ranges of copies that cover them all: one
    result per pass, in order.

    The ranges are those of :func:`passes`, except for ``chunk_size="auto"`` off the CPU: all
    copies in one pass to start with, and a pass that raises ``torch.OutOfMemoryError`` is rerun
    with half as many copies, as is every later pass, down to one copy of the batch (whose
    failure is raised). Nothing of a failed pass is kept: its result is never yielded.
    """
    if chunk_size != "auto" or images.device.type == "cpu":
        for start, stop in passes(copies, images, chunk_size):
            yield run_pass(start, stop)
        return
    start, step = 0, copies
    while start < copies:
        stop = min(copies, start + step)
        try:
            result = run_pass(start, stop)
        except OUT_OF_MEMORY:
            if step == 1:
                raise
            step = -(-step // 2)
            log.info("%d copies of the batch per pass ran out of %s memory; now %d per pass",
                     stop - start, images.device, step)
            continue
        yield result
        start = stop


def wants_channels_last(model: nn.Module, images: torch.Tensor) -> bool:
    """True for a 4-D CPU batch and a model with an ``nn.Conv2d``, unless the model has
    already failed on a channels_last input."""
    if images.ndim != 4 or images.device.type != "cpu" or model in _NCHW_ONLY:
        return False
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _channels_last_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """name -> channels_last copy of each Conv2d weight that is a plain NCHW parameter."""
    conv_weights = {id(m.weight) for m in model.modules()
                    if isinstance(m, nn.Conv2d) and isinstance(m.weight, nn.Parameter)}
    return {name: p.detach().contiguous(memory_format=torch.channels_last)
            for name, p in model.named_parameters()
            if id(p) in conv_weights and p.ndim == 4 and not p.is_contiguous(memory_format=torch.channels_last)}


class StackedForward:
    """The forward passes of one explainer call: the layout is chosen, and channels_last
    weights are made, once per call."""

    def __init__(self, model: nn.Module, images: torch.Tensor) -> None:
        self.model, self.shape = model, tuple(images.shape)
        self.dtype, self.device = images.dtype, images.device
        self.channels_last = wants_channels_last(model, images)
        self.weights = _channels_last_weights(model) if self.channels_last else {}

    def empty(self, copies: int) -> torch.Tensor:
        """An uninitialised ``(copies, N, C, H, W)`` buffer whose ``(copies * N, C, H, W)`` view
        is channels_last when chosen (splitting / merging the batch dimension keeps the strides)."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        flat = torch.empty((copies * self.shape[0], *self.shape[1:]), dtype=self.dtype, device=self.device,
                           memory_format=fmt)
        return flat.view(copies, *self.shape)

    def __call__(self, stacked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, model(x))`` for the leaf ``x``: the stack viewed as one batch, requiring grad.

        A RuntimeError on the channels_last path is retried once with the model as it is on a
        contiguous copy; if that works, later calls with this model skip channels_last; if it
        fails too, that second error is raised.
        """
        x = stacked.view(-1, *stacked.shape[2:]).requires_grad_(True)
        if not self.channels_last:
            return x, self._forward(x, {})
        try:
            return x, self._forward(x, self.weights)
        except RuntimeError:
            pass  # retried below, outside the handler, so a second failure is reported alone
        x = x.detach().contiguous().requires_grad_(True)
        output = self._forward(x, {})
        _NCHW_ONLY.add(self.model)
        self.channels_last, self.weights = False, {}
        return x, output

    def _forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = x.clone()  # a non-leaf copy: the model may work in place on its input; grads reach x
        if weights:
            return explained_output(torch.func.functional_call(self.model, weights, (inputs,)))
        return explained_output(self.model(inputs))
