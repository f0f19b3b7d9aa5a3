"""``zoo predict``: run a segmentation or instance model on image files and write overlay PNGs.

Preprocessing follows the weights' ``config.json`` (see :mod:`zoo.model_config`; ``--config``
comes first, the Hub repository's config is used only if the weights came from the Hub).

``model_kwargs`` in a config beside ``--weights`` (or given with ``--config``) are passed to
the builder, so a file trained with non-default options loads. Without a config: class names
"class 0".."class K-1", mean 0 / std 1 (pixels in [0, 1]) and each image at its own size. Instance models (torchvision's contract) take [0, 1] pixels and
normalise inside, so ``mean``/``std`` apply to semantic segmentation models only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.exit_codes import EXIT_OK
from zoo.cli.model_options import add_model_options, check_model_options, load_model, resolve_model
from zoo.cli.output_names import OutputNames
from zoo.cli.usage_error import UsageError, refuse_file_as_folder, save_output
from zoo.model_config import MAX_INPUT_SIDE

SUPPORTED_TASKS = ("semantic_segmentation", "instance_segmentation")
DEFAULT_SCORE_THRESHOLD = 0.5


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="draw a segmentation or instance model's predictions on images",
        description="Run a semantic or instance segmentation model on images and write one overlay PNG "
                    "per image into DIR: class colours and a legend, or boxes, labels, scores and masks.")
    add_model_options(p, example="'unet' or 'maskrcnn_mini.shapes'", drawn="the mask colours")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="folder for the PNGs (created)")
    p.add_argument("--score-threshold", type=float, metavar="S",
                   help="instance segmentation models only: draw detections scoring at least S, in [0, 1] "
                        f"(default {DEFAULT_SCORE_THRESHOLD})")
    p.add_argument("--scale", type=float, default=1.0,
                   help="draw on the image enlarged by this factor, for small images (default 1: the image's size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    spec, tag = resolve_model(args, SUPPORTED_TASKS, "draws")
    if args.score_threshold is not None and spec.task != "instance_segmentation":
        raise UsageError(f"--score-threshold applies to instance segmentation models only; "
                         f"{spec.name} is a {spec.task} model")
    check_model_options(args)
    if not args.scale > 0:
        raise UsageError(f"--scale must be positive, got {args.scale}")
    if args.score_threshold is not None and not 0 <= args.score_threshold <= 1:
        raise UsageError(f"--score-threshold must be in [0, 1], got {args.score_threshold}")
    _check_scale(args.images, args.scale)
    out_dir = Path(args.output_dir)
    refuse_file_as_folder(out_dir, "the PNGs")

    loaded = load_model(args, spec, tag)
    model, config, pre, num_classes = loaded.model, loaded.config, loaded.preprocessing, loaded.num_classes
    images = [Path(p) for p in args.images]
    names = OutputNames(out_dir, images)  # an output never replaces an input image
    for path in images:
        original, x = pre.load(path)  # an unreadable first image leaves no empty folder behind
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None
        if args.scale != 1:
            original = original.resize(_scaled(original.size, args.scale), Image.NEAREST)
        if spec.task == "semantic_segmentation":
            drawn = _predict_semantic(model, original, pre.normalise(x).to(args.device), config, num_classes,
                                      args.alpha)
        else:
            drawn = _predict_instances(model, original, x.to(args.device), config, num_classes,
                                       DEFAULT_SCORE_THRESHOLD if args.score_threshold is None
                                       else args.score_threshold, args.alpha)
        target = names.path(path.stem, ".png")
        save_output(drawn.save, target)
        print(target)
    return EXIT_OK


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _check_scale(images: list[str], scale: float) -> None:
    """Refuse a ``--scale`` that would draw an image above ``MAX_INPUT_SIDE`` a side, before any
    weights are read or image drawn (each image's size is read from its header)."""
    from PIL import Image, UnidentifiedImageError

    if scale == 1:  # an image is drawn at its own size, whatever it is
        return
    for path in images:
        try:
            with Image.open(path) as im:
                size = _scaled(im.size, scale)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
            continue  # reading it for the model says what is wrong with it
        if max(size) > MAX_INPUT_SIDE:
            raise UsageError(f"--scale {scale:g} would draw {path} at {size[0]}x{size[1]} px, above "
                             f"{MAX_INPUT_SIDE} px a side; pass a smaller --scale")


def _class_names(config: dict, num_classes: int | None) -> list[str]:
    names = config.get("label_names")
    if names:
        return [str(n) for n in names]
    return [f"class {i}" for i in range(num_classes or 0)]


# --------------------------------------------------------------------------- models
def _predict_semantic(model, original, x, config, num_classes, alpha):
    """Logits at the input's size, upsampled to ``original``'s (the drawing's) size, argmax."""
    import torch
    import torch.nn.functional as F

    from zoo.visualize import overlay_segmentation

    with torch.no_grad():
        logits = model(x[None])
    if isinstance(logits, dict):  # torchvision's segmentation models return {"out": ...}
        logits = logits["out"]
    logits = logits.cpu()
    if logits.shape[-2:] != (original.height, original.width):
        logits = F.interpolate(logits, size=(original.height, original.width), mode="bilinear", align_corners=False)
    mask = logits[0].argmax(0)
    return overlay_segmentation(original, mask, _class_names(config, num_classes or logits.shape[1]), alpha=alpha)


def _predict_instances(model, original, x, config, num_classes, score_threshold, alpha):
    import torch
    import torch.nn.functional as F

    from zoo.visualize import draw_instances

    with torch.no_grad():
        pred = {key: value.cpu() if isinstance(value, torch.Tensor) else value
                for key, value in model([x])[0].items()}
    keep = pred["scores"] >= score_threshold  # only what is drawn is scaled to the drawing (a mask at
    pred = {key: value[keep] if isinstance(value, torch.Tensor) and value.ndim and len(value) == len(keep)
            else value for key, value in pred.items()}  # 8192 px a side is 256 MB)
    h, w = x.shape[-2:]
    if (h, w) != (original.height, original.width):  # map back from the input's size to the drawing's
        scale = torch.tensor([original.width / w, original.height / h] * 2)
        pred["boxes"] = pred["boxes"] * scale
        if "masks" in pred and len(pred["masks"]):
            pred["masks"] = F.interpolate(pred["masks"], size=(original.height, original.width), mode="bilinear",
                                          align_corners=False)
    if num_classes is None:
        labels = pred["labels"]
        num_classes = getattr(model, "num_classes", None) or (int(labels.max()) + 1 if len(labels) else 0)
    return draw_instances(original, pred, _class_names(config, num_classes),
                          score_threshold=score_threshold, alpha=alpha)


