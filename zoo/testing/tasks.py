"""Per-task plumbing the generic checks need: example inputs, a forward pass, a training loss,
and the number of classes an output shows. Keeps the generic checks task-agnostic."""

from __future__ import annotations

from zoo.testing.tensors import images

CLASSIFICATION, SEMANTIC, INSTANCE = "classification", "semantic_segmentation", "instance_segmentation"

# Small on purpose: the suite must stay fast on a laptop CPU.
DENSE_SIZE = (32, 32)  # the smallest size every model must take
INSTANCE_SIZES = ((65, 81), (72, 56))  # one odd size: masks must be at image size, not 2x a half


# What forward must return, by task, as the messages quote it.
CONTRACT_OUTPUT = {CLASSIFICATION: "a tensor of logits (N, K)", SEMANTIC: "a tensor of logits (N, K, H, W)"}


def output_problem(task: str, out, what: str) -> str | None:
    """None if ``out`` is a tensor, as the dense tasks' contract asks; else a message naming what
    the model returned instead and how to fix it (``what`` says which call gave ``out``)."""
    import torch

    if task not in CONTRACT_OUTPUT or isinstance(out, torch.Tensor):
        return None
    from zoo.testing.tensors import describe

    if isinstance(out, dict):
        key = next((k for k, v in out.items() if isinstance(v, torch.Tensor)), None)
        got, pick = f"a dict {describe(out)}", f"[{key!r}]" if key is not None else None
    elif isinstance(out, (tuple, list)):
        first = next((i for i, v in enumerate(out) if isinstance(v, torch.Tensor)), None)
        got, pick = f"a {describe(out)}", f"[{first}]" if first is not None else None
    else:
        got, pick = f"a {type(out).__name__}", None
    how = f" (a module whose forward returns model(x){pick})" if pick else ""
    return (f"the model returned {got} for {what}; the {task} contract is {CONTRACT_OUTPUT[task]}: "
            f"return that tensor from forward, or wrap the model{how}")


def declared_input(model) -> tuple[int, tuple[int, int], bool] | None:
    """``(C, (H, W), fixed)`` for a model that describes its input as timm does
    (``pretrained_cfg = {"input_size": (C, H, W), "min_input_size": ..., "fixed_input_size": ...}``),
    else None. (H, W) is the smallest size it declares: ``min_input_size`` where given (timm's
    HaloNet, SAM2-Hiera), else ``input_size``; ``fixed`` means it takes no other size (ViTs)."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    if not isinstance(cfg, dict) or len(cfg.get("input_size") or ()) != 3:
        return None
    c, h, w = cfg["input_size"]
    fixed = bool(cfg.get("fixed_input_size"))
    if not fixed and len(cfg.get("min_input_size") or ()) == 3:
        h, w = cfg["min_input_size"][1:]
    return int(c), (int(h), int(w)), fixed


def example_input(task: str, in_chans: int, batch: int = 1, seed: int = 0, size: tuple[int, int] | None = None):
    """A batch for ``task``: an (N, C, H, W) tensor (``size`` or :data:`DENSE_SIZE`), or a list of
    (C, H, W) images for detection."""
    if task == INSTANCE:  # always two images of different sizes, as torchvision allows
        return [images(1, in_chans, *INSTANCE_SIZES[i % 2], seed=seed + i)[0] for i in range(max(batch, 2))]
    return images(batch, in_chans, *(size or DENSE_SIZE), seed=seed)


def instance_targets(inputs, num_classes: int, empty: bool = False) -> list[dict]:
    """Targets in torchvision's detection format: one or two boxes per image, with masks,
    using the highest label ``num_classes - 1``; ``empty`` gives images without objects."""
    import torch

    targets = []
    for i, img in enumerate(inputs):
        h, w = img.shape[-2:]
        if empty:
            boxes = torch.zeros(0, 4)
        else:
            boxes = torch.tensor([[4.0, 6.0, w / 2 + 4, h / 2 + 6], [w / 3, h / 3, w - 3.0, h - 2.0]])[: 1 + i % 2]
        labels = torch.tensor([max(num_classes - 1, 1), 1][: len(boxes)], dtype=torch.int64)
        masks = torch.zeros(len(boxes), h, w, dtype=torch.uint8)
        for m, (x1, y1, x2, y2) in zip(masks, boxes.round().long().tolist()):
            m[y1:y2, x1:x2] = 1
        targets.append({"boxes": boxes, "labels": labels, "masks": masks})
    return targets


def training_loss(task: str, model, inputs, num_classes: int):
    """A scalar whose gradient reaches everything the output depends on.

    Dense outputs are weighted by fixed random weights: a plain sum can cancel exactly (e.g.
    through a train-mode BatchNorm), hiding real gradient paths.
    """
    import torch

    if task == INSTANCE:
        losses = model(inputs, instance_targets(inputs, num_classes))
        return sum(losses.values())
    out = model(inputs)
    problem = output_problem(task, out, f"input {tuple(inputs.shape)} in train mode")  # e.g. (logits, aux logits)
    if problem:
        from zoo.testing.checks import broken

        raise broken(problem)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    return (out * weights).sum()
