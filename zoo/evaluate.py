"""Measuring a model on a held-out split with torchmetrics.

- classification: top-1 accuracy (``accuracy``).
- semantic_segmentation: per-class IoU and their mean over all classes, background included
  (``miou``, ``iou_<label>``), accumulated over the whole split (not averaged per image).
- instance_segmentation: COCO mAP of masks and boxes (``mask_map_50``, ``mask_map``,
  ``box_map_50``, ``box_map``) from torchmetrics' MeanAveragePrecision, which uses
  pycocotools as its backend.

``evaluate("unet.shapes")`` evaluates the hub card ``hubcards/unet.shapes`` (its weights and the
dataset its config names, read by :mod:`zoo.card_models`) on the test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from zoo.card_models import card_dir_for, card_model_config, card_normalisation, load_card_model
from zoo.preprocessing import normalise

PRIMARY_METRIC = {
    "classification": "accuracy",
    "semantic_segmentation": "miou",
    "instance_segmentation": "mask_map_50",
}


def batches(dataset, batch_size: int) -> Iterable[list[dict]]:
    """Lists of items in order (no DataLoader: the items are generated in-process anyway)."""
    for start in range(0, len(dataset), batch_size):
        yield [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]


def evaluate_model(model, task: str, dataset, *, batch_size: int = 32, label_names=None,
                   progress: bool = False, device=None, mean=None, std=None) -> dict[str, float]:
    """The metrics of ``model`` (put in eval mode, and moved to ``device`` when given) on every
    item of ``dataset``. Images go to the model's device; the metrics are computed on the CPU.

    ``mean``/``std`` (per channel, or one value): the normalisation the model was trained with,
    applied to the dataset's [0, 1] images, as ``zoo predict`` applies a config's. Instance
    segmentation models normalise their input themselves (torchvision's contract): not for them.
    """
    import torch

    model.eval()
    if device is not None:
        model.to(device)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    metric = _make_metric(task, getattr(dataset, "num_classes", None))
    items = batches(dataset, batch_size)
    if progress:
        from zoo.extras import require

        require("train", "tqdm", purpose="the progress bar (pass progress=False, or --json)")
        from tqdm.auto import tqdm

        # disable=None: no bar where stderr is no terminal (a log, CI), as tqdm's own convention has it
        items = tqdm(items, total=-(-len(dataset) // batch_size), desc="evaluate", unit="batch", disable=None)
    with torch.inference_mode():
        for batch in items:
            images = torch.stack([it["image"] for it in batch]).to(device)
            if task != "instance_segmentation" and (mean is not None or std is not None):
                images = normalise(images, mean, std)
            if task == "classification":
                metric.update(model(images).argmax(1).cpu(), torch.stack([it["label"] for it in batch]))
            elif task == "semantic_segmentation":
                metric.update(model(images).argmax(1).cpu(), torch.stack([it["mask"] for it in batch]))
            else:
                preds = model(list(images))
                metric.update([_instance_pred(p) for p in preds], [_instance_target(it) for it in batch])
    return _summarise(task, metric.compute(), label_names or getattr(dataset, "label_names", None))


#: how each task's metrics are computed, in words (hub cards state it beside the numbers)
METRIC_PROTOCOL = {
    "classification": "Top-1 accuracy over the split (torchmetrics' MulticlassAccuracy).",
    "semantic_segmentation": (
        "Each class's IoU is computed from one confusion matrix accumulated over every pixel of the "
        "split (torchmetrics' MulticlassJaccardIndex, average='none'), and mIoU is the mean of those "
        "per-class IoUs, background included: not a mean of per-image IoUs."),
    "instance_segmentation": (
        "COCO-style mAP (torchmetrics' MeanAveragePrecision, pycocotools backend) of the detections "
        "exactly as the model returns them in eval mode (its own score threshold, NMS and per-image "
        "limit: the builder's score_thresh, nms_thresh and detections_per_img), with predicted mask "
        "probabilities binarised at 0.5."),
}


def _make_metric(task: str, num_classes: int | None):
    from zoo.extras import require

    require("train", "torchmetrics", *(("pycocotools",) if task == "instance_segmentation" else ()),
            purpose="measuring a model (zoo evaluate, zoo train)")
    if task == "classification":
        from torchmetrics.classification import MulticlassAccuracy

        return MulticlassAccuracy(num_classes=num_classes, average="micro")
    if task == "semantic_segmentation":
        from torchmetrics.classification import MulticlassJaccardIndex

        return MulticlassJaccardIndex(num_classes=num_classes, average="none")
    if task == "instance_segmentation":
        from torchmetrics.detection import MeanAveragePrecision

        return MeanAveragePrecision(iou_type=("bbox", "segm"), backend="pycocotools")
    raise ValueError(f"unknown task {task!r}")


def _instance_pred(pred: dict) -> dict:
    masks = pred["masks"]
    if masks.ndim == 4:  # torchvision: (R, 1, H, W) probabilities
        masks = masks[:, 0]
    return {"boxes": pred["boxes"].cpu(), "scores": pred["scores"].cpu(), "labels": pred["labels"].cpu(),
            "masks": (masks > 0.5).cpu()}


def _instance_target(item: dict) -> dict:
    return {"boxes": item["boxes"], "labels": item["labels"], "masks": item["masks"].bool()}


def _summarise(task: str, raw: Any, label_names) -> dict[str, float]:
    if task == "classification":
        return {"accuracy": round(float(raw), 4)}
    if task == "semantic_segmentation":
        ious = [float(v) for v in raw]
        names = list(label_names or range(len(ious)))
        out = {"miou": round(sum(ious) / len(ious), 4)}
        out.update({f"iou_{n}": round(v, 4) for n, v in zip(names, ious)})
        return out
    return {
        "mask_map_50": round(float(raw["segm_map_50"]), 4), "mask_map": round(float(raw["segm_map"]), 4),
        "box_map_50": round(float(raw["bbox_map_50"]), 4), "box_map": round(float(raw["bbox_map"]), 4),
    }


def evaluate(name: str, *, split: str = "test", hubcards: str | Path | None = None,
             weights: str | Path | None = None, pretrained: bool = False, size: int | None = None,
             progress: bool = False, device: str = "cpu") -> dict[str, float]:
    """Evaluate hub card ``name`` ("arch.tag" or its folder) on ``split`` of its dataset, on ``device``."""
    from zoo.data import get_dataset
    from zoo.registry import get_registry

    card_dir = card_dir_for(name, hubcards)
    config = card_model_config(card_dir, weights)
    mean, std = card_normalisation(card_dir, weights, config["in_chans"])
    model = load_card_model(card_dir, weights=weights, pretrained=pretrained, config=config)
    kwargs = dict(config["dataset"].get("kwargs", {}))
    if size is not None:
        kwargs["size"] = size
    dataset = get_dataset(config["dataset"]["name"], split, **kwargs)
    task = get_registry().resolve(config["architecture"])[0].task
    return evaluate_model(model, task, dataset, label_names=config.get("label_names"), progress=progress,
                          device=device, mean=mean, std=std)
