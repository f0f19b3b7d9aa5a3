"""A model's ``config.json``: where it is found, what it may hold, and the model it loads with
(the image preprocessing it describes is :mod:`zoo.preprocessing`).

The config travels with the weights (hub cards write it: ``label_names``, ``mean``, ``std``,
``input_size``, ``num_classes``, ``in_chans``, ``model_kwargs``). It is looked up in order:

1. an explicit path;
2. ``config.json`` beside a local weights file;
3. ``hubcards/<arch>.<tag>/config.json`` in the project, for a pretrained tag;
4. ``config.json`` in the tag's Hub repository (:func:`hub_config`, best effort).

Used by ``zoo predict`` and ``zoo explain`` (:func:`load_for_inference`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

from zoo.errors import ModelConfigError, ZooError
from zoo.names import same_architecture
from zoo.preprocessing import Preprocessing

CONFIG_NAME = "config.json"
MAX_INPUT_SIDE = 8192  # px; an image file is resized to the config's input_size before anything else


def find_config(arch: str, tag: str | None, *, weights: str | Path | None = None,
                config: str | Path | None = None, hubcards_dirs: list[Path] | None = None) -> dict:
    """The first config found (explicit, beside the weights, hub card); ``{}`` if none."""
    found = locate_config(arch, tag, weights=weights, config=config, hubcards_dirs=hubcards_dirs)
    return read_config(found) if found is not None else {}


def locate_config(arch: str, tag: str | None, *, weights: str | Path | None = None,
                  config: str | Path | None = None, hubcards_dirs: list[Path] | None = None) -> Path | None:
    """Where :func:`find_config` reads from: the explicit path, else ``config.json`` beside the
    weights, else the tag's hub card; None if none exists.

    The project's hub card describes the tag's own weights, so it is not used for a ``weights``
    file (a fine-tune of the tag would get the card's class names and preprocessing).
    """
    if config is not None:
        return Path(config)
    candidates = []
    if weights is not None:
        candidates.append(Path(weights).parent / CONFIG_NAME)
    elif tag is not None:
        for root in hubcards_dirs if hubcards_dirs is not None else _hubcards_dirs():
            candidates.append(root / f"{arch}.{tag}" / CONFIG_NAME)
    return next((candidate for candidate in candidates if candidate.is_file()), None)


@dataclasses.dataclass
class LoadedModel:
    """A model built for ``zoo predict`` / ``zoo explain``, with what its config says of its input."""

    model: Any
    config: dict
    preprocessing: Preprocessing
    num_classes: int | None


def load_for_inference(name: str, spec: Any, tag: str | None, *, pretrained: bool, weights: str | Path | None = None,
                       config_path: str | Path | None = None, num_classes: int | None = None,
                       in_chans: int | None = None, device: str = "cpu") -> LoadedModel:
    """``zoo.create(name, ...)`` in eval mode on ``device``, with its config (the first found: an
    explicit path, beside the weights, the project's hub card, the tag's Hub repo).

    ``num_classes``: as given, else the config's, else the tag's, else the number of the config's
    label names, else the spec's default. ``in_chans``: as given, else the config's (or its input
    size), else the tag's or the spec's default.
    """
    cfg = spec.pretrained[tag] if tag else None
    found = locate_config(spec.name, tag, weights=weights, config=config_path)
    config, source = (read_config(found), found) if found is not None else ({}, CONFIG_NAME)
    written_for = config.get("architecture")
    if isinstance(written_for, str) and not same_architecture(written_for, spec.name):
        warnings.warn(f"{source} was written for {written_for!r}, not {spec.name!r}: its class names and "
                      "preprocessing may not fit this model", stacklevel=2)
    size = config.get("input_size")
    if num_classes is None:  # 0 (timm's headless weights) is an answer, not a gap. Label names count
        # the classes only where nothing else does: they must never resize a tag's head.
        counts = (config.get("num_classes"), cfg.num_classes if cfg else None, len(config.get("label_names") or []))
        num_classes = next((k for k in counts[:2] if k is not None), counts[2] or None)
    in_chans = in_chans or config.get("in_chans") or (int(size[0]) if isinstance(size, list) and len(size) == 3
                                                      else None)
    model = create_with_config_kwargs(name, builder_kwargs(config, weights), source, pretrained=pretrained,
                                      weights=weights, num_classes=num_classes, in_chans=in_chans).eval().to(device)
    in_chans = in_chans or (cfg.in_chans if cfg else None) or spec.defaults.get("in_chans") or 3
    if num_classes is None:
        num_classes = spec.defaults.get("num_classes")
    if config or not (pretrained and cfg is not None):
        config = _without_unfit_names(config, num_classes, source)
        return LoadedModel(model, config, Preprocessing.from_config(config, in_chans, source), num_classes)
    # The Hub repo's config.json describes the input and names the classes; the model is built from
    # the tag (fetched first, so the config comes from the same commit). Best effort: a config that
    # does not fit the model is warned about and left out.
    config = _without_unfit_names(hub_config(cfg), num_classes, f"{cfg.hf_hub_id}'s {CONFIG_NAME}")
    try:
        return LoadedModel(model, config, Preprocessing.from_config(config, in_chans), num_classes)
    except ModelConfigError as exc:
        warnings.warn(f"{cfg.hf_hub_id}: {CONFIG_NAME} could not be used, so mean/std and input size are "
                      f"defaults ({exc})", stacklevel=2)
        return LoadedModel(model, {}, Preprocessing.from_config({}, in_chans), num_classes)


def create_with_config_kwargs(name: str, kwargs: dict, given_by: object, **create_kwargs: Any):
    """``zoo.create(name, **create_kwargs, **kwargs)``, where ``kwargs`` are builder options a
    config file (``given_by``) gave: the builder's own error about them (an unknown key, a bad
    value) is a :class:`ModelConfigError` naming the file, not a traceback."""
    import zoo

    try:
        return zoo.create(name, **create_kwargs, **kwargs)
    except (TypeError, ValueError, RuntimeError, IndexError) as exc:
        if not kwargs or isinstance(exc, ZooError):
            raise
        raise ModelConfigError(f"{given_by}: model_kwargs {kwargs!r:.200} do not build {name}: "
                               f"{type(exc).__name__}: {exc}") from exc


def _without_unfit_names(config: dict, num_classes: int | None, source) -> dict:
    """``config`` (read from ``source``) without its ``label_names`` when they are not one per
    class (warned about): a legend or a ``--target`` name must never point at another class than it says."""
    names = config.get("label_names")
    if not names or not num_classes or len(names) == num_classes:
        return config
    warnings.warn(f"{source} names {len(names)} classes ({', '.join(map(str, names[:6]))}"
                  f"{', ...' if len(names) > 6 else ''}) but the model has {num_classes}: the classes are "
                  f"shown as 'class 0' .. 'class {num_classes - 1}'; give one label per class", stacklevel=3)
    return {k: v for k, v in config.items() if k != "label_names"}


def builder_kwargs(config: dict, weights: str | Path | None) -> dict:
    """The builder options a local weights file was trained with (``model_kwargs`` in its
    config); none for the Hub's tags, whose PretrainedCfg.model_kwargs ``zoo.create`` applies."""
    return dict(config.get("model_kwargs") or {}) if weights is not None else {}


def read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ModelConfigError(f"{path}: cannot read the model config ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: a model config must be a JSON object, got {type(data).__name__}")
    if isinstance(data.get("pretrained_cfg"), dict):  # timm's Hub layout: preprocessing nested
        data = {**{k: data["pretrained_cfg"][k] for k in ("mean", "std", "input_size") if k in data["pretrained_cfg"]},
                **data}
    problems = _field_problems(data)
    if problems:
        raise ModelConfigError(f"{path}: {'; '.join(problems)}")
    return data


FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38


def _normalisation_problems(mean, std) -> list[str]:
    """Finite ``mean``/``std`` that still turn pixels in [0, 1] into Inf or NaN in float32 (a std
    below float32's smallest normal number, or a ratio past its largest): every prediction would
    be garbage, and the explainers would blame the image."""
    means = [0.0] if mean is None else mean if isinstance(mean, list) else [mean]
    stds = [1.0] if std is None else std if isinstance(std, list) else [std]
    reach = max(max(abs(m), abs(1.0 - m)) for m in means)
    if min(stds) < FLOAT32_TINY or reach / min(stds) > FLOAT32_MAX:
        return [f"mean {mean!r:.60} and std {std!r:.60} turn pixels in [0, 1] into Inf/NaN in float32 ((x - mean) / "
                f"std overflows); use the statistics the model was trained with, e.g. std 0.229 to 0.5"]
    return []


def _field_problems(config: dict) -> list[str]:
    """What is wrong with the keys a prediction reads (a mirror's config.json is anyone's JSON)."""
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def whole(v, low):  # 224.0 is read as 224
        return number(v) and float(v).is_integer() and v >= low

    def finite(v):
        return number(v) and math.isfinite(v)

    problems = []
    names = config.get("label_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, (str, int)) for n in names)):
        problems.append(f"label_names must be a list of names, got {names!r:.60}")
    for key, fits in (("mean", finite), ("std", lambda v: finite(v) and v > 0)):  # std 0: Inf pixels
        value = config.get(key)
        if value is not None and not (fits(value) or (isinstance(value, list) and value and all(map(fits, value)))):
            problems.append(f"{key} must be a {'finite' if key == 'mean' else 'positive finite'} number or a list "
                            f"of them, got {value!r:.60}")
    if not problems:
        problems += _normalisation_problems(config.get("mean"), config.get("std"))
    size = config.get("input_size")
    values = size if isinstance(size, list) else [size]  # N, [H, W] or [C, H, W]
    if size is not None and not (len(values) in ((2, 3) if isinstance(size, list) else (1,))
                                 and all(whole(v, 1) for v in values)):
        problems.append(f"input_size must be N, [H, W] or [C, H, W], got {size!r:.60}")
    elif size is not None and max(values[-2:]) > MAX_INPUT_SIDE:
        problems.append(f"input_size {size!r:.60} asks for images over {MAX_INPUT_SIDE} px a side, which the zoo "
                        "refuses (one such image would take gigabytes); give the size the model was trained at")
    for key, low in (("num_classes", 0), ("in_chans", 1)):  # num_classes 0: timm's headless weights
        if config.get(key) is not None and not (isinstance(config[key], int) and whole(config[key], low)):
            problems.append(f"{key} must be an int >= {low}, got {config[key]!r:.60}")
    kwargs = config.get("model_kwargs")
    if kwargs is not None and not (isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)):
        problems.append(f"model_kwargs must be an object of builder keyword arguments, got {kwargs!r:.60}")
    elif isinstance(kwargs, dict) and {"num_classes", "in_chans"} & set(kwargs):
        problems.append(f"model_kwargs holds {', '.join(sorted({'num_classes', 'in_chans'} & set(kwargs)))}, "
                        "which belong at the config's top level")
    return problems


def _hubcards_dirs() -> list[Path]:
    from zoo.card_folders import source_hubcards_dir

    found = source_hubcards_dir()
    return [found] if found else []


def hub_config(cfg: Any, revision: str | None = None) -> dict:
    """``config.json`` from the weights' Hub repo, at the commit the weights were fetched at (so a
    branch that moved since cannot mix another commit's config with these weights, and the
    branch's ref in the cache stays where the weights' check left it); best effort, the
    prediction runs without it.

    A repo without one gives ``{}`` quietly; one that cannot be fetched or read gives ``{}`` with
    a warning, since class names, mean/std and input size then fall back to defaults.
    """
    from zoo import hub

    try:
        return fetch_hub_config(cfg, hub.resolved_commit(cfg, revision))
    except ZooError as exc:
        warnings.warn(f"{cfg.hf_hub_id}: {CONFIG_NAME} could not be used, so class names, mean/std and input "
                      f"size are defaults ({exc})", stacklevel=2)
        return {}


def fetch_hub_config(cfg: Any, commit: str | None) -> dict:
    """The repo's ``config.json`` at ``commit`` (None: the pinned revision), read and checked; ``{}``
    for a repo without one. That absence is recorded in the cache as huggingface_hub records it,
    so an offline call knows it too. Raises a ZooError when it cannot be fetched or read."""
    from zoo import hub
    from zoo.errors import HubEntryNotFoundError, HubNotFoundError
    from zoo.hub_cache import absent_marker, mark_absent

    config_file, settings = config_cfg(cfg), hub.HubSettings.from_env()
    if commit and absent_marker(config_file, commit, settings).is_file():
        return {}
    try:
        return read_config(Path(hub.fetch(config_file, revision=commit)))
    except HubEntryNotFoundError:
        if commit:
            mark_absent(config_file, commit, settings)
        return {}
    except HubNotFoundError:
        return {}


def config_cfg(cfg: Any) -> Any:
    """``cfg`` for the repo's ``config.json`` instead of its weights (not pinned: the weights are)."""
    return dataclasses.replace(cfg, filename=CONFIG_NAME, sha256=None)
