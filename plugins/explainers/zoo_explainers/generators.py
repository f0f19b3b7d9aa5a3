"""The random generator behind one call of a stochastic explainer (SmoothGrad's noise, RISE's masks)."""

from __future__ import annotations

import torch


def call_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded by ``seed``, or, for None, by a draw from torch's global
    CPU generator, so that ``torch.manual_seed`` makes unseeded calls repeatable. That draw names
    the CPU: under ``torch.set_default_device("meta")`` it would be a meta tensor with no value."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,), device="cpu").item())
    return torch.Generator(device=device).manual_seed(seed)
