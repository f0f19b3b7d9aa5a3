"""Seeded blocks that leave torch's global random state as they found it.

``torch.manual_seed`` reseeds the CPU generator and, on a machine with CUDA, every CUDA
generator (queued until CUDA starts, if it has not started yet). Library code that needs
repeatable draws (a re-initialised copy of a model, an explainer's noise) must not do that to
its caller. :func:`seeded` seeds only the generators the block draws on: the CPU's, and those
of the CUDA devices that the given tensors and modules live on. It restores them afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

Where = torch.Tensor | nn.Module | None


def _tensors(where: tuple[Where, ...]) -> Iterator[torch.Tensor]:
    for item in where:
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, nn.Module):
            yield from item.parameters()
            yield from item.buffers()


def cuda_devices(*where: Where) -> list[int]:
    """Indices of the CUDA devices holding the given tensors, or the modules' parameters and buffers."""
    return sorted({t.device.index for t in _tensors(where) if t.is_cuda})


@contextmanager
def seeded(seed: int, *where: Where) -> Iterator[None]:
    """Run the block as if after ``torch.manual_seed(seed)``, for the CPU and the CUDA devices of
    ``where``; every generator it seeds is restored on exit, so the caller's draws are unchanged.

    Tensors on another accelerator (``mps``, ``xpu``...) get ``torch.manual_seed`` itself, so
    their draws repeat too; only the CPU's and CUDA's states are restored then.
    """
    devices = cuda_devices(*where)
    with torch.random.fork_rng(devices=devices):
        if any(t.device.type not in ("cpu", "cuda", "meta") for t in _tensors(where)):
            torch.manual_seed(seed)
        else:
            torch.random.default_generator.manual_seed(seed)
            for index in devices:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
        yield
