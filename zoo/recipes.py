"""Training recipes: the one file per hub card (``hubcards/<arch>.<tag>/recipe.yaml``) that says
how its weights were made, so ``zoo train`` can make them again.

A recipe is YAML (or JSON)::

    architecture: cnn_cam            # registered architecture
    tag: digits                      # pretrained tag the weights publish as
    dataset: {name: digits, kwargs: {image_size: 32}}
    model: {num_classes: 10, in_chans: 1, kwargs: {widths: [16, 32, 64]}}
    train: {seed: 0, epochs: 12, batch_size: 64, lr: 0.003, weight_decay: 0.0005,
            threads: 2, augment: {shift: 2}, save_dtype: float32}
    license: apache-2.0
    hf_hub_id: acme/cnn_cam.digits   # the Hub repo the weights publish as (default visionzoo/<arch>.<tag>)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.data import DATASETS
from zoo.errors import ZooError
from zoo.specs import first_party_hub_id, is_hub_id

RECIPE_NAMES = ("recipe.yaml", "recipe.yml", "recipe.json")


class RecipeError(ZooError, ValueError):
    """A hub-card folder has no readable recipe, or the recipe lacks a field or states one that cannot be used."""


@dataclass
class Recipe:
    architecture: str
    tag: str
    dataset: str
    dataset_kwargs: dict[str, Any]
    num_classes: int
    in_chans: int
    model_kwargs: dict[str, Any]
    train: dict[str, Any]
    license: str = "apache-2.0"
    card_dir: Path | None = None
    hf_hub_id: str | None = None  # None: the project's own repo, visionzoo/<arch>.<tag>

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}"

    @property
    def hub_id(self) -> str:
        """The Hub repo the weights publish as: a third party's own org, or the project's."""
        return self.hf_hub_id or first_party_hub_id(self.name)


def recipe_file(card_dir: str | Path) -> Path | None:
    """The card folder's recipe file, or None when it has none (a third party's card)."""
    return next((Path(card_dir) / n for n in RECIPE_NAMES if (Path(card_dir) / n).is_file()), None)


def find_recipe(card_dir: str | Path) -> Path:
    found = recipe_file(card_dir)
    if found is not None:
        return found
    raise RecipeError(f"{card_dir}: no recipe ({' or '.join(RECIPE_NAMES)}); a hub card folder "
                      f"needs one to be trained with `zoo train {card_dir}`")


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file, or the recipe inside a hub-card folder."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"{path}: no such hub-card folder or recipe file; pass a folder holding "
                          f"{' or '.join(RECIPE_NAMES)}, e.g. hubcards/cnn_cam.digits")
    if path.is_dir():
        path = find_recipe(path)
    text = path.read_text()
    if path.suffix != ".json":
        from zoo.extras import require

        require("train", "yaml", purpose=f"reading {path.name}")
    try:
        if path.suffix == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - yaml and json raise different types
        raise RecipeError(f"{path}: not valid {path.suffix[1:]} ({exc})") from exc
    return _recipe_from(raw, path)


def _recipe_from(raw: Any, path: Path) -> Recipe:
    """The recipe a parsed file states; a :class:`RecipeError` naming each field that is missing or
    cannot be used (``num_classes: ten`` was a bare ValueError traceback, a misspelled dataset
    option a TypeError after the model was built)."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of fields (architecture, tag, dataset, model, train), got "
                          f"{type(raw).__name__}; see zoo.recipes for the format")
    problems = [f"{key} must be a name, got {raw.get(key)!r}" for key in ("architecture", "tag")
                if not isinstance(raw.get(key), str) or not raw[key]]
    dataset, model = raw.get("dataset"), raw.get("model")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str):
        problems.append(f"dataset must be a mapping with a name ({', '.join(DATASETS)}), got {dataset!r}")
    elif dataset["name"] not in DATASETS:
        problems.append(f"unknown dataset {dataset['name']!r}; choose from {', '.join(DATASETS)}")
    else:
        problems += _dataset_option_problems(dataset["name"], dataset.get("kwargs"))
    if not isinstance(model, dict):
        problems.append(f"model must be a mapping with num_classes (and in_chans, kwargs), got {model!r}")
        model = {}
    else:
        problems += [f"model.{key} must be a whole number >= 1, got {model[key]!r}"
                     for key in ("num_classes", "in_chans") if key in model and not is_count(model[key])]
        if "num_classes" not in model:
            problems.append("model.num_classes is missing")
    problems += [f"{where} must be a mapping, got {value!r}"
                 for where, value in (("model.kwargs", model.get("kwargs")), ("train", raw.get("train")))
                 if value is not None and not isinstance(value, dict)]
    hub_id = raw.get("hf_hub_id")
    if hub_id is not None and not is_hub_id(hub_id):
        problems.append(f"hf_hub_id {hub_id!r} is not a Hub repo id of the form 'org/name'")
    if problems:
        raise RecipeError(f"{path}: {'; '.join(problems)}; see zoo.recipes for the format")
    return Recipe(
        architecture=raw["architecture"], tag=raw["tag"], dataset=dataset["name"],
        dataset_kwargs=dict(dataset.get("kwargs") or {}), num_classes=model["num_classes"],
        in_chans=model.get("in_chans", 3), model_kwargs=dict(model.get("kwargs") or {}),
        train=dict(raw.get("train") or {}), license=raw.get("license", "apache-2.0"),
        card_dir=path.parent, hf_hub_id=hub_id,
    )


def is_count(value: Any) -> bool:
    """A whole number >= 1 (not a bool, though True == 1): a size, a count, an epoch number."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _dataset_option_problems(name: str, kwargs: Any) -> list[str]:
    """What is wrong with a recipe's ``dataset.kwargs`` for dataset ``name``: not a mapping, an
    option the dataset does not take, or a size or count below 1."""
    import inspect

    from zoo.data import dataset_class

    if kwargs is None:
        return []
    if not isinstance(kwargs, dict):
        return [f"dataset.kwargs must be a mapping, got {kwargs!r}"]
    takes = [p for p in inspect.signature(dataset_class(name)).parameters if p != "split"]
    problems = [f"dataset {name!r} takes no option {key!r} (it takes {', '.join(takes)})" for key in kwargs
                if key not in takes]
    problems += [f"dataset.kwargs.{key} must be a whole number >= 1, got {kwargs[key]!r}"
                 for key in ("size", "image_size", "max_objects") if key in kwargs and key in takes
                 and not (is_count(kwargs[key]) or key == "size" and kwargs[key] is None)]
    return problems
