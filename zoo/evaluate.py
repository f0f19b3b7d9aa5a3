"""Measuring a model on a held-out split with torchmetrics.

- classification: top-1 accuracy (``accuracy``).
- semantic_segmentation: per-class IoU and their mean over all classes, background included
  (``miou``, ``iou_<label>``), accumulated over the whole split (not averaged per image).
- instance_segmentation: COCO mAP of masks and boxes (``mask_map_50``, ``mask_map``,
  ``box_map_50``, ``box_map``) from torchmetrics' MeanAveragePrecision, which uses
  pycocotools as its backend.

``evaluate("unet.shapes")`` evaluates the hub card ``hubcards/unet.shapes`` (its weights and the
dataset its config names) on the test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from zoo.errors import ModelConfigError, ZooError
from zoo.names import same_architecture
from zoo.preprocessing import channel_stats, normalise

PRIMARY_METRIC = {
    "classification": "accuracy",
    "semantic_segmentation": "miou",
    "instance_segmentation": "mask_map_50",
}


class CardError(ZooError, FileNotFoundError):
    """A hub-card folder is missing, or lacks its weights or config."""


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


def card_dir_for(name: str, hubcards: str | Path | None = None) -> Path:
    """The hub-card folder of ``name``: ``name`` itself when it is a folder; else
    ``<hubcards>/<name>`` when that card exists (also a card no plugin registers yet); else the
    registered name resolved through the registry (a bare architecture takes its default tag;
    an unknown name or tag raises ``UnknownModelError``/``UnknownTagError`` with suggestions).
    ``hubcards`` defaults to :func:`zoo.cards.default_hubcards_dir`."""
    from zoo.cards import default_hubcards_dir, missing_hubcards_message
    from zoo.registry import get_registry

    if Path(name).is_dir():
        return Path(name)
    root = Path(hubcards) if hubcards is not None else default_hubcards_dir()
    if (root / name / "config.json").is_file():
        return root / name
    spec, _, tag = get_registry().resolve(name, pretrained=True)
    if not root.is_dir():
        raise CardError(missing_hubcards_message(root))
    path = root / f"{spec.name}.{tag}"
    if not path.is_dir():
        raise CardError(f"{spec.name}.{tag} is registered but has no hub-card folder {path}; pass --hubcards DIR "
                        "(the folder holding its card) or the card folder itself")
    return path


#: what every card's config.json holds from the start (``zoo train`` writes it, and ``metrics`` once measured)
CARD_CONFIG_KEYS = ("architecture", "tag", "task", "num_classes", "in_chans", "label_names", "input_size",
                    "dataset", "filename", "sha256", "file_size", "num_params", "save_dtype", "model_kwargs")


def read_card_config(card_dir: str | Path) -> dict:
    """A hub card's ``config.json``, checked for the keys every card has (written by ``zoo train``)."""
    from zoo.model_config import read_config

    path = Path(card_dir) / "config.json"
    fix = _how_to_make(card_dir)
    if not path.is_file():
        raise CardError(f"{path} is missing; {fix}")
    config = read_config(path)
    missing = [key for key in CARD_CONFIG_KEYS if key not in config]
    if missing or not isinstance(config.get("dataset"), dict) or "name" not in config["dataset"]:
        raise ModelConfigError(f"{path} lacks {', '.join(map(repr, missing)) or 'dataset.name'}: it is not a config "
                               f"written by `zoo train`; {fix}")
    from zoo.data import DATASETS

    if config["dataset"]["name"] not in DATASETS:
        raise ModelConfigError(f"{path}: dataset {config['dataset']['name']!r} is none of the zoo's datasets "
                               f"({', '.join(DATASETS)}), which are all `zoo evaluate` measures on")
    return config


def _how_to_make(card_dir: str | Path) -> str:
    """How a card gets the files ``zoo evaluate`` needs: trained from its recipe, or, for a card
    without one (a third party's), not at all: the zoo measures on its own datasets, which only a
    recipe names."""
    from zoo.recipes import RECIPE_NAMES, recipe_file

    if recipe_file(card_dir):
        return f"train the card with `zoo train {card_dir}`"
    return (f"{card_dir} has no recipe ({', '.join(RECIPE_NAMES)}), and `zoo evaluate` measures only cards that "
            "`zoo train` made on the zoo's datasets; measure this one with your own evaluation")


def card_model_config(card_dir: str | Path, weights: str | Path | None = None) -> dict:
    """The card's ``config.json``, with what a ``config.json`` beside ``weights`` (another file:
    a fine-tune) says over it (:func:`weights_config`)."""
    card = read_card_config(card_dir)
    return {**card, **weights_config(weights, card["architecture"])}


def card_normalisation(card_dir: str | Path, weights: str | Path | None,
                       in_chans: int) -> tuple[list[float], list[float]]:
    """The mean/std of a model taking ``in_chans`` channels: the card's, with what the ``config.json``
    beside ``weights`` states over them; checked as ``zoo predict`` checks them, against the
    channel count the configs state, and the file that stated them named in the error."""
    card = read_card_config(card_dir)
    own = weights_config(weights, card["architecture"])
    source, stated = Path(card_dir) / "config.json", card
    if "mean" in own or "std" in own:  # over the card's, key by key, as card_model_config merges them
        source, stated = f"{Path(weights).parent / 'config.json'} (over {source})", {**card, **own}
    return channel_stats(stated, in_chans, source)


def load_card_model(card_dir: str | Path, weights: str | Path | None = None, pretrained: bool = False, *,
                    config: dict | None = None):
    """The card's model with its weights: the card's file (default), ``weights``, or the hub
    (``pretrained=True``, through the registered tag). ``config``: the card's
    :func:`card_model_config`, when the caller has read it already."""
    import zoo
    from zoo.model_config import create_with_config_kwargs

    card_dir = Path(card_dir)
    config = config if config is not None else card_model_config(card_dir, weights)
    if pretrained:
        return zoo.create(f"{config['architecture']}.{config['tag']}", pretrained=True)
    given_by = card_dir / "config.json" if weights is None else f"the config.json beside {weights}, over the card's"
    weights = weights or card_dir / config.get("filename", "model.safetensors")
    if not Path(weights).is_file():
        raise CardError(f"{weights}: no such weights file; pass --weights FILE, or {_how_to_make(card_dir)}")
    # Built from the card's own config.json, never from a registered tag of the same name: a
    # retrained recipe may have changed its builder kwargs since the tag was published. Another
    # file (a fine-tune) is built as the config.json beside it says, where it has one.
    return create_with_config_kwargs(config["architecture"], config.get("model_kwargs", {}), given_by,
                                     num_classes=config["num_classes"], in_chans=config["in_chans"], weights=weights)


def weights_config(weights: str | Path | None, architecture: str) -> dict:
    """The builder options and preprocessing (``num_classes``, ``in_chans``, ``model_kwargs``,
    ``mean``, ``std``) a ``config.json`` beside ``weights`` gives (the card's own, for its file);
    ``{}`` without one. One written for another architecture than the card's is refused: its
    weights are that architecture's."""
    from zoo.model_config import find_config

    own = find_config("", None, weights=weights) if weights is not None else {}
    written_for = own.get("architecture")
    if isinstance(written_for, str) and not same_architecture(written_for, architecture):
        raise ModelConfigError(f"{Path(weights).parent / 'config.json'} was written for {written_for!r}, not "
                               f"{architecture!r}: {weights} holds another architecture's weights; evaluate them "
                               "with their own card")
    return {k: own[k] for k in ("num_classes", "in_chans", "model_kwargs", "mean", "std") if k in own}


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
