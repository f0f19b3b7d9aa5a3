"""Small helpers the checks share: seeded inputs and readable comparisons of outputs."""

from __future__ import annotations

from typing import Any


def images(n: int, c: int, h: int, w: int, seed: int = 0):
    """A reproducible float batch in [0, 1]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def distinct_images(n: int, c: int, h: int, w: int, seed: int = 0):
    """:func:`images`, image i lifted towards 1 (its values in [i / 2n, 1]): images of noise alone
    look alike to a model that pools them (a random classifier's logits differed by 1e-4, the
    tolerance of comparing them), so a batch whose images differ in brightness is what an output
    comparison needs to tell them apart. Image 0 is :func:`images`' own."""
    import torch

    x = images(n, c, h, w, seed)
    lift = torch.arange(n, dtype=x.dtype).view(n, 1, 1, 1) / (2 * n)
    return x * (1 - lift) + lift


def difference(a: Any, b: Any, path: str = "output") -> str | None:
    """None when ``a`` and ``b`` are bit-identical, NaN matching NaN (tensors, lists, tuples, dicts of them);
    otherwise where and how they differ."""
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{path}: {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}"
        if torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)):
            return None  # NaN where the other has NaN too: the same result (the output checks refuse NaN)
        if a.is_floating_point():
            diff = (a.float() - b.float()).abs()
            diff = torch.nan_to_num(diff, nan=float("inf"))
            return f"{path}: max abs difference {diff.max().item():.3g} over {int((diff > 0).sum())} elements"
        return f"{path}: {int((a != b).sum())} elements differ"
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            d = difference(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def describe(x: Any) -> str:
    """Shape-level description of an output, for messages."""
    import torch

    if isinstance(x, torch.Tensor):
        return f"tensor {tuple(x.shape)} {str(x.dtype).replace('torch.', '')}"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(describe(v) for v in x[:3]) + (", ..." if len(x) > 3 else "")
        return f"{type(x).__name__}[{inner}]"
    return type(x).__name__
