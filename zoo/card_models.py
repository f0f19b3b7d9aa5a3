"""A hub-card folder as a model: finding the folder, reading its ``config.json`` (what ``zoo train``
wrote), and building its model with its weights, for ``zoo evaluate``, ``zoo train``'s final
measurement, the card renderer and the demo."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ModelConfigError, ZooError
from zoo.names import same_architecture
from zoo.preprocessing import channel_stats


class CardError(ZooError, FileNotFoundError):
    """A hub-card folder is missing, or lacks its weights or config."""


def card_dir_for(name: str, hubcards: str | Path | None = None) -> Path:
    """The hub-card folder of ``name``: ``name`` itself when it is a folder; else
    ``<hubcards>/<name>`` when that card exists (also a card no plugin registers yet); else the
    registered name resolved through the registry (a bare architecture takes its default tag;
    an unknown name or tag raises ``UnknownModelError``/``UnknownTagError`` with suggestions).
    Without ``hubcards``, the card is looked for where the conformance suite looks
    (:func:`zoo.card_folders.hubcards_roots`: ``$ZOO_HUBCARDS_DIR`` or the source tree's, then the
    project's own ``hubcards/``), else in :func:`zoo.card_folders.default_hubcards_dir`."""
    from zoo.card_folders import default_hubcards_dir, hubcards_roots, missing_hubcards_message
    from zoo.registry import get_registry

    if Path(name).is_dir():
        return Path(name)
    roots = [Path(hubcards)] if hubcards is not None else hubcards_roots() or [default_hubcards_dir()]
    for root in roots:
        if (root / name / "config.json").is_file():
            return root / name
    spec, _, tag = get_registry().resolve(name, pretrained=True)
    for root in roots:
        if (root / f"{spec.name}.{tag}").is_dir():
            return root / f"{spec.name}.{tag}"
    if not any(root.is_dir() for root in roots):
        raise CardError(missing_hubcards_message(roots[0]))
    looked = " or ".join(str(root / f"{spec.name}.{tag}") for root in roots)
    raise CardError(f"{spec.name}.{tag} is registered but has no hub-card folder {looked}; pass --hubcards DIR "
                    "(the folder holding its card) or the card folder itself")


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
