"""Building a model on the meta device without running its weight initialisation.

Why: meta tensors hold no values, yet ``torch.nn.init`` functions and in-place random ops on
them still dispatch through Python decompositions, which can cost more than building the
modules themselves (timm resnet18 on meta: 36 -> 21 ms; convnext_tiny: 173 -> 42 ms;
benchmarks/README.md). When weights follow, those values would be overwritten anyway.

Skipping is safe because every skipped op is in-place and value-only: it never changes a
tensor's shape, dtype or device, which is all a meta tensor has. Tensors on other devices
(a builder that makes a real tensor on purpose) are untouched. Torch function modes are
thread-local, so a model built for real in another thread at the same time is unaffected.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch.utils._device import DeviceContext  # what torch.device(...) pushes as a context

# In-place tensor methods that only write values (what initialisers are made of: timm's
# trunc_normal_ is uniform_, erfinv_, mul_, add_, clamp_; BatchNorm resets with zero_/fill_),
# and torch.nn.init's public initialisers (kaiming_uniform_, trunc_normal_...: all in-place).
_SKIPPED = frozenset(
    [getattr(torch.Tensor, name) for name in (
        "normal_", "uniform_", "zero_", "fill_", "erfinv_", "mul_", "add_", "sub_", "div_",
        "clamp_", "clamp_min_", "clamp_max_", "copy_", "exponential_", "bernoulli_", "random_",
        "log_normal_", "geometric_", "cauchy_", "masked_fill_", "index_fill_",
    ) if hasattr(torch.Tensor, name)]
    + [getattr(torch.nn.init, name) for name in dir(torch.nn.init)
       if name.endswith("_") and not name.startswith("_") and callable(getattr(torch.nn.init, name))]
)


class _MetaWithoutInit(DeviceContext):
    """``torch.device("meta")`` as a context, plus the skip, in one torch-function mode: every
    torch call made while building goes through one Python-level handler, not two (for small
    models that second handler cost more than the initialisers it skips)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        # One set look-up for the common case: building modules calls many other functions.
        if func in _SKIPPED:
            # Tensor methods get the tensor first; torch.nn.init passes it as ``tensor=``.
            written = args[0] if args else (kwargs or {}).get("tensor")
            if isinstance(written, torch.Tensor) and written.is_meta:
                return written
        return super().__torch_function__(func, types, args, kwargs)


@contextlib.contextmanager
def on_meta_without_init() -> Iterator[None]:
    """``with on_meta_without_init(): model = build()`` -> a meta model, no initialiser run."""
    with _MetaWithoutInit("meta"):
        yield
