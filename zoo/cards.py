"""Hub cards (``README.md`` of a hub repo) written with huggingface_hub's ``ModelCard``.

The YAML header carries the machine-readable part (license, ``library_name: visionzoo``, tags,
datasets, ``model-index`` with the measured test metrics); the body says what the model is,
how it was trained, what it measured and what it is not for. Extra measured sections (e.g.
the explainer sanity report of a classifier) come from ``explainers.json`` in the card folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.data import DatasetCardText, card_text
from zoo.recipes import Recipe

HF_TASK = {
    "classification": ("image-classification", "Image classification"),
    "semantic_segmentation": ("image-segmentation", "Semantic segmentation"),
    "instance_segmentation": ("image-segmentation", "Instance segmentation"),
}
METRIC_TEXT = {
    "accuracy": "top-1 accuracy", "miou": "mean IoU (all classes, background included)",
    "mask_map_50": "mask mAP@0.5 (COCO, pycocotools)", "mask_map": "mask mAP@[.5:.95]",
    "box_map_50": "box mAP@0.5", "box_map": "box mAP@[.5:.95]",
}


def write_card(card_dir: str | Path, recipe: Recipe, config: dict[str, Any], *, path: str | Path | None = None) -> Path:
    """Render ``card_dir``'s card from the recipe and the measured config and write it to ``path``
    (default ``card_dir/README.md``; ``zoo train`` writes into a staging folder first)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    card_dir = Path(card_dir)
    task = config["task"]
    hf_task, task_title = HF_TASK[task]
    dataset = card_text(recipe.dataset)
    metrics = config["metrics"]
    split = MeasuredSplit.of(recipe)
    eval_results = [
        EvalResult(task_type=hf_task, task_name=task_title, dataset_type=dataset.hub_id, dataset_name=recipe.dataset,
                   dataset_config=split.size, dataset_args=recipe.dataset_kwargs or None, dataset_split="test",
                   metric_type=key, metric_name=METRIC_TEXT.get(key, key), metric_value=value)
        for key, value in metrics.items() if not key.startswith("iou_")
    ]
    data = ModelCardData(
        license=recipe.license, library_name="visionzoo", pipeline_tag=hf_task, model_name=recipe.name,
        tags=["visionzoo", "pytorch", "safetensors", recipe.architecture, task.replace("_", "-"), dataset.tag],
        datasets=[dataset.hub_id], metrics=sorted({k for k in metrics if not k.startswith("iou_")}),
        eval_results=eval_results,
    )
    card = ModelCard(_frontmatter(data) + _body(card_dir, recipe, config, dataset, task_title, split))
    path = Path(path) if path is not None else card_dir / "README.md"
    card.save(path)
    return path


def _frontmatter(data) -> str:
    return f"---\n{data.to_yaml()}\n---\n"


def _body(card_dir: Path, recipe: Recipe, config: dict, dataset: DatasetCardText, task_title: str,
          split: "MeasuredSplit") -> str:
    from zoo.evaluate import METRIC_PROTOCOL

    name = recipe.name
    m = config["metrics"]
    rows = "\n".join(f"| `{k}` | {METRIC_TEXT.get(k, k.replace('iou_', 'IoU of '))} | {v:.4f} |" for k, v in m.items())
    recipe_file = next(p for p in card_dir.iterdir() if p.name.startswith("recipe."))
    size_kb = config["file_size"] / 1024
    hp = config.get("train_hparams", {})
    sections = [
        f"# {name}\n",
        _architecture_text(recipe.architecture, recipe.model_kwargs),
        f"`{recipe.architecture}` ({task_title.lower()}) trained by visionzoo on {dataset.description}. "
        f"{config['num_classes']} classes: {', '.join(config['label_names'])}. "
        f"Input: {config['in_chans']}-channel float images in [0, 1] (no further normalisation), "
        f"trained at {config['input_size'][1]}x{config['input_size'][2]}.\n",
        "## Load it\n",
        "```python\nimport zoo\n"
        f"model = zoo.create(\"{name}\", pretrained=True)  # or weights=\"hubcards/{name}/model.safetensors\"\n```\n",
        "## Measured on the held-out test split\n",
        f"Test split of `{recipe.dataset}` ({split.count} images of {split.size} pixels, {dataset.held_out}), "
        f"measured from the shipped file "
        f"with `zoo evaluate {name}`. {METRIC_PROTOCOL[config['task']]}\n",
        "| metric | meaning | value |\n|---|---|---|\n" + rows + "\n",
        "## Model\n",
        f"- parameters: {config['num_params']:,}\n- weights: `{config['filename']}`, {size_kb:.0f} KiB, "
        f"{config['save_dtype']}, sha256 `{config['sha256']}`\n"
        f"- builder kwargs: `{json.dumps(config['model_kwargs'])}`\n",
        "## Recipe\n",
        _recipe_text(recipe, name, hp, config, recipe_file),
        "```yaml\n" + recipe_file.read_text().rstrip() + "\n```\n",
    ]
    report = explainer_report(card_dir, config)
    if report is not None:
        sections.append(_explainer_section(report))
    sections += [
        "## Intended use and limits\n",
        dataset.limits,
    ]
    return "\n".join(sections)


def _recipe_text(recipe: Recipe, name: str, hp: dict, config: dict, recipe_file: Path) -> str:
    """How the weights were made. When they were trained with other hyper-parameters than the
    recipe file gives (``zoo train --epochs``, or a recipe edited since), say so and give the
    command that really reproduces them: the plain one would give other weights."""
    from zoo.train import recipe_hparams, recipe_overrides

    overrides = recipe_overrides(recipe, hp) if hp else {}
    took = config.get("train_minutes", "?")
    took = "under a minute" if isinstance(took, (int, float)) and took < 1 else f"about {took} minutes"
    minutes = (f"{took} on a shared 2-core CPU with "
               f"{hp.get('threads', '?')} thread{'' if hp.get('threads') == 1 else 's'}")
    parent = (f", fine-tuned from the `{hp['init_from']}` card's weights (train that one first)"
              if hp.get("init_from") else "")
    if not overrides:
        return (f"Reproduce with `zoo train hubcards/{name}` (fixed seed; {minutes}){parent}. "
                f"The recipe (`{recipe_file.name}`):\n")
    plain = recipe_hparams(recipe)
    changes = ", ".join(f"`{k}: {json.dumps(v)}` (the recipe says `{json.dumps(plain.get(k))}`)"
                        for k, v in overrides.items())
    if set(overrides) == {"epochs"}:
        how = f"Reproduce these weights with `zoo train hubcards/{name} --epochs {overrides['epochs']}`"
    else:
        how = "Reproduce these weights with a recipe that sets the values above"
    return (f"**These weights were not trained with the recipe as written**: they were trained with "
            f"{changes}. `zoo train hubcards/{name}` alone gives other weights. {how} (fixed seed; "
            f"{minutes}){parent}. The effective hyper-parameters are `train_hparams` in `config.json`. "
            f"The recipe file (`{recipe_file.name}`):\n")


def explainer_report(card_dir: str | Path, config: dict[str, Any]) -> dict | None:
    """``card_dir/explainers.json`` when it was measured on the card's weights, else None.

    A report records the sha256 of the weights it measured (``"sha256"``); it is rendered only
    when that equals ``config["sha256"]``, so retrained weights never carry an old report.
    """
    path = Path(card_dir) / "explainers.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())  # ValueError (JSONDecodeError) for a broken file
    if not isinstance(report, dict):
        raise ValueError(f"{path}: an explainer report is a JSON object, got {type(report).__name__}")
    weights_sha = config.get("sha256")
    return report if weights_sha and report.get("sha256") == weights_sha else None


def _architecture_text(arch: str, model_kwargs: dict[str, Any]) -> str:
    """The registered spec's one-line description (what the architecture is, with its defaults),
    and the builder options of this card's weights, which may differ from those defaults."""
    try:
        import zoo

        description = zoo.model_info(arch).description
    except Exception:  # noqa: BLE001 - a card can still be written for an unregistered model
        return ""
    if not description:
        return ""
    text = f"Architecture (at its registered defaults): {description.rstrip('. ')}."
    if model_kwargs:
        text += " These weights are built with " + ", ".join(f"{k}={v!r}" for k, v in model_kwargs.items()) + "."
    return text + "\n"


@dataclass(frozen=True)
class MeasuredSplit:
    """The test split a card was measured on: cards measured at different image sizes are
    different benchmarks, so the card and its metadata say which."""

    count: int
    size: str  # "HxW"

    @classmethod
    def of(cls, recipe: Recipe) -> "MeasuredSplit":
        from zoo.data import get_dataset

        dataset = get_dataset(recipe.dataset, "test", **recipe.dataset_kwargs)
        height, width = dataset[0]["image"].shape[-2:]
        return cls(len(dataset), f"{height}x{width}")


def _explainer_section(report: dict) -> str:
    lines = ["## Explainers on this model\n", report.get("summary", "") + "\n"]
    rows = report.get("rows", [])
    if rows:
        keys = list(rows[0])
        lines.append("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in rows:
            lines.append("| " + " | ".join(_fmt(row[k]) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")  # keep table cells whole


def card_files(card_dir: str | Path) -> list[Path]:
    """The files a hub card publishes (pushed by ``zoo hub push``, served by ``zoo hub serve``):
    all of them, sorted, but hidden ones (``.git``, ``.DS_Store``...) and ``__pycache__``.

    Refused (HubError), naming the fix: a link to a file outside the card (publishing or serving
    it would hand out whatever it points to: ``notes.txt -> ~/.ssh/id_rsa``); a link to a folder
    (its files would be left out in silence); a pickle checkpoint (``pytorch_model.bin``: the zoo
    publishes safetensors only, since loading a pickle runs its code). Links to files within the
    card are fine, and so are other files (an example ``.npy``, ONNX ``.bin`` data).
    """
    from zoo.checkpoint_files import checkpoint_kind
    from zoo.errors import HubError

    card_dir = Path(card_dir)
    found = [p for p in card_dir.rglob("*") if not any(
        part.startswith(".") or part == "__pycache__" for part in p.relative_to(card_dir).parts)]
    files = sorted(p for p in found if p.is_file())
    inside = card_dir.resolve()
    problems = [f"{p.relative_to(card_dir)} links to {p.resolve()}, outside the card, which would be published; "
                "copy the file into the card or remove the link"
                for p in files if p.is_symlink() and not p.resolve().is_relative_to(inside)]
    problems += [f"{p.relative_to(card_dir)} links to a folder, whose files would not be published; copy them "
                 "into the card or remove the link" for p in sorted(found) if p.is_symlink() and p.is_dir()]
    problems += [f"{p.relative_to(card_dir)} is {kind}, which the zoo never publishes; convert it to safetensors "
                 "or move it out of the card" for p in files if (kind := checkpoint_kind(p))]
    if problems:
        raise HubError(f"{card_dir}: " + "; ".join(problems))
    return files


def same_license(a: object, b: object) -> bool:
    """Whether two license identifiers name the same license: SPDX writes ``Apache-2.0``, the Hub's
    card metadata ``apache-2.0``."""
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def registered_claim_problems(cfg: Any, config: dict[str, Any]) -> list[str]:
    """How a registered tag's claims (``PretrainedCfg.metrics`` and ``license``, what ``zoo list``
    and ``zoo info`` show) disagree with its card's ``config.json`` (empty if they do not). When the
    card records metrics, each metric the tag states must be one of them, with the same value; the
    card may measure more (per-class IoU). A license the tag states must be the card's."""
    problems = []
    measured = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
    stated = cfg.metrics if isinstance(cfg.metrics, dict) else {}  # a malformed one is the spec checks' to name
    for metric, value in sorted(stated.items() if measured else ()):
        if metric not in measured:
            problems.append(f"the registered tag states {metric} {value!r} but config.json has no {metric!r} metric")
        elif measured[metric] != value:  # repr: a "0.9372" string is not the number 0.9372
            problems.append(f"the registered tag states {metric} {value!r} but config.json records "
                            f"{measured[metric]!r}")
    if isinstance(cfg.license, str) and not isinstance(config.get("license"), str):
        problems.append(f"the registered tag's license is {cfg.license!r} but config.json states none (the card "
                        "would be published without one)")
    elif isinstance(cfg.license, str) and not same_license(cfg.license, config["license"]):
        problems.append(f"the registered tag's license is {cfg.license!r} but config.json says {config['license']!r}")
    return problems


def card_text_problems(card_dir: str | Path, config: dict[str, Any], weights_sha256: str) -> list[str]:
    """How a card's README.md disagrees with its config.json and weights (empty if it does not):
    model-index metrics, the Markdown metrics table, the license, any sha256 it states, and an
    ``explainers.json`` measured on other weights (``zoo train`` leaves an old one in place). The
    card is what people read on the Hub, so ``zoo hub push`` refuses one that disagrees."""
    import re

    from huggingface_hub import ModelCard

    readme = Path(card_dir) / "README.md"
    if not readme.is_file():
        return [f"{readme} is missing; write the card with `zoo train` or zoo.cards.rewrite_card"]
    text = readme.read_text()
    try:
        data = ModelCard(text).data
    except Exception as exc:  # noqa: BLE001 - any YAML/metadata error in the card
        return [f"{readme} has unreadable metadata ({exc})"]
    problems = []
    stated = {r.metric_type: r.metric_value for r in (data.eval_results or [])}
    expected = {k: v for k, v in config.get("metrics", {}).items() if not k.startswith("iou_")}
    for key in sorted(set(stated) | set(expected)):
        if key not in expected:
            problems.append(f"model-index states {key}={stated[key]} that config.json does not record")
        elif key not in stated:
            problems.append(f"model-index lacks {key} (config.json: {expected[key]}; a card's YAML lists each measured "
                            "metric under model-index, e.g. huggingface_hub's ModelCardData(eval_results=[EvalResult("
                            "...)]), as `zoo train` and zoo.cards.rewrite_card write it)")
        elif stated[key] != expected[key]:
            problems.append(f"model-index states {key}={stated[key]} but config.json records {expected[key]}")
    if config.get("license") and not same_license(data.license, config["license"]):
        problems.append(f"the card's license is {data.license!r} but config.json records {config['license']!r}")
    body = text.split("\n---", 1)[1] if text.startswith("---") and "\n---" in text else text
    for key, value in re.findall(r"^\| `(\w+)` \|[^|\n]*\| ([-0-9.]+) \|$", body, flags=re.M):
        recorded = config.get("metrics", {}).get(key)
        if isinstance(recorded, (int, float)) and value != f"{recorded:.{len(value.partition('.')[2])}f}":
            problems.append(f"the card's metrics table states {key} {value} but config.json records {recorded}")
    hashes = set(re.findall(r"\b[0-9a-f]{64}\b", body))
    problems += [f"the card states sha256 {h} but the weights hash to {weights_sha256}"
                 for h in sorted(hashes - {weights_sha256})]
    report_problem = _explainer_report_problem(Path(card_dir), config, weights_sha256)
    return problems + ([report_problem] if report_problem else [])


def explainer_report_command(name: str, card_dir: Path, weights: Path) -> str:
    """The command that (re)measures a card's ``explainers.json``: a tool of the first-party
    explainers distribution (visionzoo-explainers), named here only in advice; the core imports
    nothing of it."""
    return f"python -m zoo_explainers.report {name} --card {card_dir} --weights {weights} --write-card"


def _explainer_report_problem(card_dir: Path, config: dict[str, Any], weights_sha256: str) -> str | None:
    """Why the card's ``explainers.json`` cannot be published with these weights, if it cannot."""
    report = card_dir / "explainers.json"
    name = f"{config['architecture']}.{config['tag']}" if {"architecture", "tag"} <= set(config) else card_dir.name
    weights = card_dir / config.get("filename", "model.safetensors")
    rerun = f"rerun `{explainer_report_command(name, card_dir, weights)}`, or delete it"
    try:
        if report.is_file() and explainer_report(card_dir, {"sha256": weights_sha256}) is None:
            return f"{report} was measured on other weights than these: {rerun}"
    except (OSError, ValueError) as exc:
        return f"{report} is unreadable ({exc}): {rerun}"
    return None


def rewrite_card(card_dir: str | Path) -> Path:
    """Re-render ``README.md`` from the recipe and ``config.json`` (e.g. after adding a report)."""
    from zoo.recipes import load_recipe

    from zoo.card_models import read_card_config

    card_dir = Path(card_dir)
    return write_card(card_dir, load_recipe(card_dir), read_card_config(card_dir))
