"""Does a timm model take images of this size? Asked of a copy of it on the meta device.

Many timm architectures take one size, or sizes of one shape, only: position embeddings and
relative-position tables of a fixed size (CoAtNet, PiT, BoTNet, VOLO, ViTs...), halo blocks
that need a multiple of their block size. Given another, they fail deep inside with an
AssertionError or a broadcasting RuntimeError that names no image size. Running a copy of
the model on the meta device (shapes only: no memory, no arithmetic) finds that failure before
the real run. A size is refused only where the model runs on the meta device at the size it was
made for: a model the meta device cannot run (a data-dependent op) is never refused by it.
"""

from __future__ import annotations

import copy
import types

import torch
from torch import nn

from zoo.inputs import InputError


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are empty meta tensors (the
    weights are not copied; tied ones stay tied) and whose modules hold no hooks: a hook of the
    caller's (an explainer's, a feature collector's) must not see the dry run."""
    memo: dict[int, object] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    for module in model.modules():
        for name, hooks in vars(module).items():
            if name.endswith("hooks") and isinstance(hooks, dict):
                memo[id(hooks)] = type(hooks)()
    return copy.deepcopy(model, memo)


def failure(twin: nn.Module, shape: tuple[int, ...], dtype: torch.dtype) -> Exception | None:
    """The exception a batch of ``shape`` and ``dtype`` meets in ``twin`` (a :func:`meta_copy`),
    or None where it runs."""
    try:
        with torch.no_grad():
            twin(torch.empty(shape, dtype=dtype, device="meta"))
    except Exception as error:  # noqa: BLE001 - any failure is an answer here
        return error
    return None


def patched(twin: nn.Module) -> bool:
    """Whether a module of a copy holds a function set on the instance in place of a method (a
    user's own ``forward``): it calls into the original, not the copy, so the copy's run is no
    answer. A module's own method bound in its place (FasterNet's ``self.forward =
    self.forward_slicing``) is bound to the copy, and so is an explainer's capture of
    ``forward_features`` (it copies as the method it wraps)."""
    return any(callable(value) and not isinstance(value, nn.Module) and hasattr(type(module), name)
               and not (isinstance(value, types.MethodType) and value.__self__ is module)
               for module in twin.modules() for name, value in vars(module).items() if not name.startswith("_"))


def pair(size) -> tuple[int, int] | None:
    """(H, W) from timm's ways of giving a size (an int, (H, W), or (C, H, W)), else None."""
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    try:
        height, width = (int(s) for s in tuple(size)[-2:])
    except (TypeError, ValueError):
        return None
    return height, width


class SizeCheck:
    """Refuses a batch whose image size the model fails on, with an :class:`InputError`.

    ``made_for`` is the size the model was built for (timm's ``img_size=``), else its
    ``pretrained_cfg["input_size"]``. Sizes that ran are remembered (per batch shape, dtype
    and mode), so a size costs one dry run, the first time; a refusal is not remembered, so a
    model rebuilt for another size in place (timm's ``set_input_size``) is asked again. A
    :func:`patched` model is not asked (nor remembered), nor one being traced by torch.compile
    or torch.export: the real run says what is wrong."""

    def __init__(self, owner: str, made_for: tuple[int, int] | None = None) -> None:
        self.owner, self.made_for = owner, made_for
        self.taken: set[tuple] = set()

    def __call__(self, model: nn.Module, x: torch.Tensor) -> None:
        if torch.compiler.is_compiling():  # torch.compile and torch.export trace the model, not run it
            return
        made_for = self.made_for or pair((getattr(model, "pretrained_cfg", None) or {}).get("input_size"))
        size = tuple(x.shape[-2:])
        if made_for is None or size == made_for:
            return
        # two images stand for any batch: BatchNorm in training mode refuses one 1x1 map, not two
        shape = (min(x.shape[0], 2), *x.shape[1:])
        key = (shape, x.dtype, model.training)
        if key in self.taken:
            return
        try:
            twin = meta_copy(model)
        except Exception:  # noqa: BLE001 - a model that cannot be copied: its real run answers
            self.taken.add(key)
            return
        if patched(twin):
            return
        error = failure(twin, shape, x.dtype)
        if error is not None and failure(twin, (*shape[:2], *made_for), x.dtype) is None:
            detail = (str(error).strip().splitlines() or [""])[0][:200]
            raise InputError(
                f"{self.owner} does not take {size[0]}x{size[1]} images (timm's model fails on them: "
                f"{type(error).__name__}{': ' + detail if detail else ''}); it was made for "
                f"{made_for[0]}x{made_for[1]}: resize them to that, or create the model for your size where "
                f"timm offers it (img_size=(H, W))") from error
        self.taken.add(key)
