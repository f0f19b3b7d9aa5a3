"""``zoo train hubcards/<arch>.<tag>``: reproduce a hub card's weights from its recipe.

Everything random is seeded from the recipe (model init, shuffling, augmentation) and the
data is generated deterministically (``zoo.data``), so the same recipe on the same CPU with
the same thread count gives the same weights. The run writes, into the card folder:
``model.safetensors``, ``config.json`` and the card ``README.md`` with the metrics measured on
the held-out test split *from the written file*.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from zoo.hub import sha256_of
from zoo.recipes import RecipeError, is_count, load_recipe

TRAIN_DEFAULTS: dict[str, Any] = {
    "seed": 0, "epochs": 10, "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4, "threads": 2,
    "schedule": "onecycle", "warmup": 0.15, "grad_clip": None, "augment": {}, "save_dtype": "float32",
    "eval_batch_size": 32, "init_from": None,
}


def train(card_dir: str | Path, *, epochs: int | None = None, progress: bool = True,
          log: Callable[[str], None] = print, write_card: bool = True) -> dict[str, Any]:
    """Train the recipe in ``card_dir`` and write its files there; returns the config written.

    The run sets torch's thread count and seed as the recipe says; the caller's are restored after."""
    import torch

    from zoo.extras import require
    from zoo.seeding import seeded

    require("train", "torchmetrics", purpose="zoo train (it measures each epoch)")  # before, not after, epoch 1
    recipe = load_recipe(card_dir)  # a missing folder or recipe is a RecipeError that says so
    card_dir = recipe.card_dir  # the folder holding the recipe, also when given the recipe file
    hp = recipe_hparams(recipe)
    if epochs is not None:
        if int(epochs) < 1:
            raise RecipeError(f"epochs must be a positive integer, got {epochs!r}")
        hp["epochs"] = int(epochs)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(hp["threads"]))
    try:
        with seeded(int(hp["seed"])):
            return _run(recipe, card_dir, hp, progress, log, write_card)
    finally:
        torch.set_num_threads(threads)


def _run(recipe, card_dir: Path, hp: dict, progress: bool, log: Callable[[str], None],
         write_card: bool) -> dict[str, Any]:
    """:func:`train` itself, under the recipe's thread count and seed."""
    import torch

    from zoo.data import get_dataset
    from zoo.evaluate import PRIMARY_METRIC, evaluate_model
    from zoo.registry import get_registry

    generator = torch.Generator().manual_seed(int(hp["seed"]))
    task = get_registry().resolve(recipe.architecture)[0].task

    import zoo

    model = zoo.create(recipe.architecture, num_classes=recipe.num_classes, in_chans=recipe.in_chans,
                       **recipe.model_kwargs)
    if hp.get("init_from"):
        _init_from(model, recipe, card_dir.parent / hp["init_from"], log)
    if hp.get("zero_init"):
        _zero_init(model, recipe, hp["zero_init"])
    n_params = sum(p.numel() for p in model.parameters())
    train_set = get_dataset(recipe.dataset, "train", **recipe.dataset_kwargs)
    val_set = get_dataset(recipe.dataset, "val", **recipe.dataset_kwargs)
    log(f"{recipe.name}: {task}, {n_params:,} parameters, {len(train_set)} train / {len(val_set)} val items")
    items = [train_set[i] for i in range(len(train_set))]  # generated once, reused every epoch

    steps_per_epoch = -(-len(items) // int(hp["batch_size"]))
    total = steps_per_epoch * int(hp["epochs"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
    if hp["schedule"] == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=float(hp["lr"]), total_steps=total,
                                                        pct_start=float(hp["warmup"]))
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    loss_fn = _loss_fn(task)

    bar = None
    if progress:
        from zoo.extras import require

        require("train", "tqdm", purpose="the progress bar (pass progress=False, or --no-progress)")
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=recipe.name, unit="step", disable=None)  # none where stderr is no terminal
        if log is print:
            log = bar.write  # keep the log lines from breaking the bar
    started = time.time()
    history = []
    for epoch in range(int(hp["epochs"])):
        model.train()
        order = torch.randperm(len(items), generator=generator).tolist()
        running = 0.0
        for step in range(steps_per_epoch):
            batch = [_augment(items[i], hp["augment"], generator)
                     for i in order[step * int(hp["batch_size"]):(step + 1) * int(hp["batch_size"])]]
            loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if hp["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["grad_clip"]))
            optimizer.step()
            scheduler.step()
            running += loss.item()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
        val = evaluate_model(model, task, val_set, batch_size=int(hp["eval_batch_size"]))
        primary = PRIMARY_METRIC[task]
        history.append({"epoch": epoch + 1, "loss": round(running / steps_per_epoch, 4), primary: val[primary]})
        log(f"epoch {epoch + 1}/{hp['epochs']}: loss {running / steps_per_epoch:.4f}, val {primary} {val[primary]:.4f}")
    if bar is not None:
        bar.close()
    minutes = (time.time() - started) / 60

    # Everything is written into a staging folder first and moved into place only once the test
    # evaluation has succeeded: a failure never leaves a card whose files contradict each other.
    staging = Path(tempfile.mkdtemp(prefix=".zoo-train-", dir=card_dir))
    try:
        config = _write_staged(staging, card_dir, model, recipe, task, hp, train_set, items, n_params, history,
                               minutes, log, write_card)
        for name in ("model.safetensors", "config.json", "README.md"):
            if (staging / name).is_file():
                os.replace(staging / name, card_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return config


def _write_staged(staging: Path, card_dir: Path, model, recipe, task: str, hp: dict, train_set, items,
                  n_params: int, history: list, minutes: float, log, write_card: bool) -> dict[str, Any]:
    """Write the weights, config.json and README.md of a finished run into ``staging``."""
    from zoo.data import get_dataset
    from zoo.card_models import load_card_model
    from zoo.evaluate import evaluate_model

    weights_path = staging / "model.safetensors"
    _save_weights(model, weights_path, hp["save_dtype"])
    config = {
        "architecture": recipe.architecture, "tag": recipe.tag, "task": task,
        "num_classes": recipe.num_classes, "in_chans": recipe.in_chans,
        "label_names": list(getattr(train_set, "label_names", [])),
        "mean": [0.0] * recipe.in_chans, "std": [1.0] * recipe.in_chans,
        "input_size": [recipe.in_chans, *_input_hw(items[0])],
        "input_range": [0.0, 1.0],
        "model_kwargs": recipe.model_kwargs,
        "dataset": {"name": recipe.dataset, "kwargs": recipe.dataset_kwargs},
        "hf_hub_id": recipe.hub_id,
        "filename": weights_path.name,
        "sha256": sha256_of(weights_path),
        "file_size": weights_path.stat().st_size,
        "num_params": n_params,
        "save_dtype": hp["save_dtype"],
        "license": recipe.license,
    }
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # The card reports what the shipped file does, so measure it after the round trip, built from
    # this config (the recipe's kwargs), not from a registered tag that may predate the recipe.
    test_set = get_dataset(recipe.dataset, "test", **recipe.dataset_kwargs)
    shipped = load_card_model(staging)
    config["metrics"] = evaluate_model(shipped, task, test_set, batch_size=int(hp["eval_batch_size"]))
    config["train_history"] = history
    config["train_minutes"] = round(minutes, 1)
    config["train_hparams"] = hp
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    log(f"test metrics: {config['metrics']} ({minutes:.1f} min of training)")
    overrides = recipe_overrides(recipe, hp)
    if overrides:
        log("trained with overrides of the recipe (" + ", ".join(f"{k}={v!r}" for k, v in overrides.items())
            + "); the card says so")
    if write_card:
        from zoo.cards import explainer_report, explainer_report_command, write_card as _write

        extra = card_dir / "explainers.json"
        if extra.is_file() and explainer_report(card_dir, config) is None:
            rerun = explainer_report_command(recipe.name, card_dir, card_dir / "model.safetensors")
            log(f"{extra} was measured on other weights: left out of the card, and `zoo hub push` refuses it "
                f"(rerun `{rerun}`)")
        _write(card_dir, recipe, config, path=staging / "README.md")
    return config


SAVE_DTYPES = ("float32", "float16", "bfloat16")
SCHEDULES = ("onecycle", "cosine")


def recipe_hparams(recipe) -> dict[str, Any]:
    """The hyper-parameters the recipe alone asks for (its ``train`` section over the defaults);
    a :class:`RecipeError` naming each one that cannot be used, before any training is spent (a
    ``batch_size: 0`` was a ZeroDivisionError traceback, ``save_dtype: int8`` failed after the run)."""
    hp = {**TRAIN_DEFAULTS, **recipe.train}
    problems = _hparam_problems(hp)
    if problems:
        raise RecipeError(f"{recipe.card_dir}: the recipe's train section: {'; '.join(problems)}")
    return hp


def _hparam_problems(hp: dict[str, Any]) -> list[str]:
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    checks = [
        ("seed", isinstance(hp["seed"], int) and not isinstance(hp["seed"], bool), "a whole number"),
        *((key, is_count(hp[key]), "a whole number >= 1") for key in ("epochs", "batch_size", "threads",
                                                                    "eval_batch_size")),
        ("lr", number(hp["lr"]) and hp["lr"] > 0, "a number > 0"),
        ("weight_decay", number(hp["weight_decay"]) and hp["weight_decay"] >= 0, "a number >= 0"),
        ("warmup", number(hp["warmup"]) and 0 <= hp["warmup"] < 1, "a fraction of the steps in [0, 1)"),
        ("grad_clip", hp["grad_clip"] is None or number(hp["grad_clip"]) and hp["grad_clip"] > 0,
         "null or a number > 0"),
        ("schedule", hp["schedule"] in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
        ("save_dtype", hp["save_dtype"] in SAVE_DTYPES, f"one of {', '.join(SAVE_DTYPES)}"),
        ("augment", isinstance(hp["augment"], dict), "a mapping such as {flip: true}"),
    ]
    return [f"{key} must be {what}, got {hp[key]!r}" for key, ok, what in checks if not ok]


def recipe_overrides(recipe, hparams: dict[str, Any]) -> dict[str, Any]:
    """``{key: value}`` of ``hparams`` that differ from what the recipe alone gives (``--epochs``, or
    a recipe edited after training): then ``zoo train CARD`` alone would give other weights."""
    plain = recipe_hparams(recipe)
    return {k: v for k, v in hparams.items() if plain.get(k) != v}


def _init_from(model, recipe, source: Path, log) -> None:
    """Start from another card's weights where names and shapes match (FCN-16s from FCN-32s, as
    in Long et al.); the other layers keep their fresh initialisation."""
    from zoo.recipes import find_recipe
    from zoo.safetensors_file import load_file

    parent = source
    if source.suffix != ".safetensors":
        source = source / "model.safetensors"
    if not source.is_file():
        where = find_recipe(recipe.card_dir)
        raise RecipeError(f"{where}: train.init_from: {parent.name} -> {source} not found (the parent card is "
                          f"looked up next to this card folder, in {parent.parent}); copy that card there or "
                          f"train it first with `zoo train {parent}`")
    state, own = load_file(source), model.state_dict()
    taken = {k: v.to(own[k].dtype) for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(taken, strict=False)
    fresh = sorted(set(own) - set(taken))
    log(f"initialised {len(taken)}/{len(own)} tensors from {source}; fresh: {', '.join(fresh) or 'none'}")


def _zero_init(model, recipe, names: list[str]) -> None:
    """Zero the parameters of the named modules: a layer added on top of a parent's weights then
    starts as a no-op (FCN's new skip scores, Long et al. section 4.2)."""
    import torch

    from zoo.recipes import find_recipe

    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise RecipeError(f"{find_recipe(recipe.card_dir)}: train.zero_init names no module of "
                          f"{recipe.architecture}: {', '.join(unknown)}; known: {', '.join(n for n in modules if n)}")
    with torch.no_grad():
        for name in names:
            for p in modules[name].parameters():
                p.zero_()


def _input_hw(item: dict) -> list[int]:
    return list(item["image"].shape[-2:])


def _loss_fn(task: str):
    import torch
    import torch.nn.functional as F

    if task == "classification":
        def loss(model, batch):
            images = torch.stack([it["image"] for it in batch])
            return F.cross_entropy(model(images), torch.stack([it["label"] for it in batch]))
    elif task == "semantic_segmentation":
        def loss(model, batch):
            images = torch.stack([it["image"] for it in batch])
            return F.cross_entropy(model(images), torch.stack([it["mask"] for it in batch]))
    else:
        def loss(model, batch):
            targets = [{"boxes": it["boxes"], "labels": it["labels"], "masks": it["masks"]} for it in batch]
            return sum(model([it["image"] for it in batch], targets).values())
    return loss


def _augment(item: dict, augment: dict, generator) -> dict:
    """Label-preserving augmentation: ``shift`` (classification, pixels) and ``flip`` (h/v flips
    of images with their masks and boxes)."""
    import torch

    if not augment:
        return item
    item = dict(item)
    shift = int(augment.get("shift", 0))
    if shift:
        dy, dx = (torch.randint(-shift, shift + 1, (2,), generator=generator)).tolist()
        item["image"] = torch.roll(item["image"], shifts=(dy, dx), dims=(-2, -1))
    if augment.get("flip"):
        for axis in (-1, -2):  # horizontal, vertical
            if bool(torch.rand((), generator=generator) < 0.5):
                item = _flip(item, axis)
    return item


def _flip(item: dict, axis: int) -> dict:
    out = dict(item)
    out["image"] = item["image"].flip(axis)
    if "mask" in item:
        out["mask"] = item["mask"].flip(axis)
    if "masks" in item:
        out["masks"] = item["masks"].flip(axis)
        size = item["image"].shape[axis]
        boxes = item["boxes"].clone()
        lo, hi = (0, 2) if axis == -1 else (1, 3)
        boxes[:, lo], boxes[:, hi] = size - item["boxes"][:, hi], size - item["boxes"][:, lo]
        out["boxes"] = boxes
    return out


def _save_weights(model, path: Path, dtype: str) -> None:
    import torch

    from zoo.aligned_save import save_file  # tensors 64-byte aligned: loaded without a copy

    target = getattr(torch, dtype)
    state = {k: (v.to(target) if v.is_floating_point() else v).contiguous().clone()
             for k, v in model.state_dict().items()}
    save_file(state, path, metadata={"format": "pt"})


def pretrained_cfg_source(config: dict[str, Any]) -> str:
    """The ``zoo.PretrainedCfg(...)`` a plugin adds to publish a trained card (printed by ``zoo train``)."""
    metrics = {k: v for k, v in config["metrics"].items() if not k.startswith("iou_")}
    return (f'zoo.PretrainedCfg(hf_hub_id="{config["hf_hub_id"]}", sha256="{config["sha256"]}", '
            f'num_classes={config["num_classes"]}, in_chans={config["in_chans"]}, metrics={metrics!r}, '
            f'license="{config["license"]}", default=True, model_kwargs={config["model_kwargs"]!r})')
