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


def cuda_devices(*where: torch.Tensor | nn.Module | None) -> list[int]:
    """Indices of the CUDA devices holding the given tensors, or the modules' parameters and buffers."""
    found: set[int] = set()
    for item in where:
        if isinstance(item, torch.Tensor):
            tensors = [item]
        elif isinstance(item, nn.Module):
            tensors = [*item.parameters(), *item.buffers()]
        else:
            tensors = []
        found.update(t.device.index for t in tensors if t.is_cuda)
    return sorted(found)


@contextmanager
def seeded(seed: int, *where: torch.Tensor | nn.Module | None) -> Iterator[None]:
    """Run the block as if after ``torch.manual_seed(seed)``, for the CPU and the CUDA devices of
    ``where``; every generator it seeds is restored on exit, so the caller's draws are unchanged."""
    devices = cuda_devices(*where)
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
