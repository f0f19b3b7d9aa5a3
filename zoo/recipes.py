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
    """A hub-card folder has no readable recipe, or the recipe lacks a field."""


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
    try:
        dataset, model = raw["dataset"], raw["model"]
        if dataset["name"] not in DATASETS:
            raise RecipeError(f"{path}: unknown dataset {dataset['name']!r}; choose from {', '.join(DATASETS)}")
        hub_id = raw.get("hf_hub_id")
        if hub_id is not None and not is_hub_id(hub_id):
            raise RecipeError(f"{path}: hf_hub_id {hub_id!r} is not a Hub repo id of the form 'org/name'")
        return Recipe(
            architecture=raw["architecture"], tag=raw["tag"], dataset=dataset["name"],
            dataset_kwargs=dict(dataset.get("kwargs") or {}), num_classes=int(model["num_classes"]),
            in_chans=int(model.get("in_chans", 3)), model_kwargs=dict(model.get("kwargs") or {}),
            train=dict(raw.get("train") or {}), license=raw.get("license", "apache-2.0"),
            card_dir=path.parent, hf_hub_id=hub_id,
        )
    except (KeyError, TypeError) as exc:
        raise RecipeError(f"{path}: missing or malformed field {exc}; see zoo.recipes for the format") from exc
