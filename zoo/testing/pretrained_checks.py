"""Checks of a spec's pretrained tags: well-formed configs, and a hub card for shipped weights.

A tag pins its file by sha256 and states measured metrics, unless ``PretrainedCfg.upstream``
says the weights are someone else's (timm's Hub repos publish neither). Cards live in
``hubcards/<arch>.<tag>/`` of the source tree (README.md, config.json,
model.safetensors, recipe). Weights published under the project's own Hub org
(``visionzoo/...``) must have a card there; any card that exists must be complete and its
weights file must hash to the spec's sha256 (and load into the tag's build: ``pretrained_weights``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from zoo.card_folders import hubcards_roots, source_hubcards_dir
from zoo.cards import card_text_problems, registered_claim_problems
from zoo.hub import sha256_of
from zoo.specs import FIRST_PARTY_ORG, TAG_RE, PretrainedCfg, is_first_party, pretrained_cfg_problems
from zoo.testing.checks import MODEL, broken, check
from zoo.testing.results import CheckSkipped

UPSTREAM_HINT = (" (weights that someone else publishes without one, such as timm's, say so with "
                 "PretrainedCfg(upstream='why'))")
CARD_FILES = ("README.md", "config.json")


def tag_problems(arch: str, tag: str, cfg, cards: list[Path]) -> list[str]:
    """Everything wrong with one pretrained tag, as sentences (its card looked for in ``cards``):
    what the registry refuses (:func:`zoo.specs.pretrained_cfg_problems`, for a spec given to
    the suite directly), and what it asks of published weights on top."""
    problems = pretrained_cfg_problems(tag, cfg)
    if not isinstance(tag, str) or not TAG_RE.match(tag) or not isinstance(cfg, PretrainedCfg):
        return problems
    if not str(cfg.filename).endswith(".safetensors"):
        problems.append(f"filename {cfg.filename!r} is not a .safetensors file (weights are safetensors only)")
    upstream = _upstream_reason(cfg)
    if upstream and is_first_party(cfg.hf_hub_id):
        problems.append(f"upstream={cfg.upstream!r}, but weights under '{FIRST_PARTY_ORG}/' are the project's own: "
                        f"they are pinned by sha256 and measured, never upstream")
    # Someone else's weights (upstream) may come without a hash and without metrics.
    if cfg.sha256 is None and not upstream:
        problems.append("sha256 None must be the 64 lowercase hex digits of the weights file (sha256sum "
                        "model.safetensors), so downloads can be verified" + UPSTREAM_HINT)
    if isinstance(cfg.metrics, dict) and not cfg.metrics and not upstream:
        problems.append("metrics is empty; give at least one measured number, e.g. {'top1': 0.97}" + UPSTREAM_HINT)
    problems += _card_problems(arch, tag, cfg, cards)
    return problems


def _upstream_reason(cfg) -> str | None:
    return cfg.upstream.strip() if isinstance(cfg.upstream, str) and cfg.upstream.strip() else None


def _card_belongs_to(data, cfg, shipped: bool) -> bool:
    """Whether the card folder describes this tag's weights: its config names the same hub repo,
    or, for a config that names none, the weights are the project's own (``visionzoo/``). A folder
    ``hubcards/<arch>.<tag>/`` of another owner's weights is none of this tag's business."""
    hub_id = data.get("hf_hub_id") if isinstance(data, dict) else None
    if isinstance(hub_id, str):
        return hub_id == cfg.hf_hub_id
    return shipped


def tag_cards(arch: str, tag: str, cfg, cards: list[Path]) -> list[Path]:
    """The card folders in ``cards`` that describe this tag's weights (:func:`_card_belongs_to`)."""
    shipped = is_first_party(cfg.hf_hub_id)
    folders = (d / f"{arch}.{tag}" for d in cards)
    return [folder for folder in folders if folder.is_dir() and _card_belongs_to(_card_config(folder)[0], cfg, shipped)]


def _card_config(folder: Path) -> tuple[object, str | None]:
    """The card's ``config.json`` as read (``{}`` where there is none), and why it cannot be read."""
    config = folder / "config.json"
    if not config.is_file():
        return {}, None
    try:
        return json.loads(config.read_text()), None
    except ValueError as exc:
        return {}, f"{config} is not valid JSON: {exc}"


def _card_problems(arch: str, tag: str, cfg, cards: list[Path]) -> list[str]:
    shipped = is_first_party(cfg.hf_hub_id)
    folders = [d / f"{arch}.{tag}" for d in cards if (d / f"{arch}.{tag}").is_dir()]
    if not folders:
        return [f"card folder {cards[0] / f'{arch}.{tag}'} is missing (weights under '{FIRST_PARTY_ORG}/' ship a "
                "card)"] if shipped and cards else []
    source = source_hubcards_dir()
    return [problem for folder in folders
            for problem in _folder_problems(folder, cfg, shipped,
                                            own=source is None or folder.parent.resolve() != source.resolve())]


def _folder_problems(folder: Path, cfg, shipped: bool, own: bool) -> list[str]:
    """What is wrong with the card ``folder`` for the tag ``cfg``; ``own``: the folder is the
    plugin author's (``./hubcards``), not the zoo's."""
    config = folder / "config.json"
    data, unreadable = _card_config(folder)
    problems = [unreadable] if unreadable else []
    if not _card_belongs_to(data, cfg, shipped):
        # e.g. a third-party plugin's own "unet.shapes" next to the project's card of that name
        if shipped:
            return [f"{config}: hf_hub_id={data['hf_hub_id']!r} but the spec's tag says {cfg.hf_hub_id!r}"]
        if own and is_first_party(data.get("hf_hub_id")):
            # what `zoo train` writes when the recipe names no repo: the author's card all the same
            return [f"{config}: hf_hub_id={data['hf_hub_id']!r} (zoo train's default, the project's own org) but "
                    f"the spec's tag says {cfg.hf_hub_id!r}: put `hf_hub_id: {cfg.hf_hub_id}` in the recipe and "
                    f"train again (or correct config.json), so the card is checked against the tag"]
        if own:  # the author's own folder of cards: a stale or renamed repo id, not someone else's card
            return [f"{config}: hf_hub_id={data['hf_hub_id']!r} but the spec's tag says {cfg.hf_hub_id!r}: correct "
                    f"config.json (or the tag), so the card is checked against the tag's weights"]
        return []
    problems = [f"card {folder} has no {f}" for f in CARD_FILES if not (folder / f).is_file()] + problems
    if isinstance(data, dict):
        for key in ("num_classes", "in_chans"):
            if key in data and getattr(cfg, key) is not None and data[key] != getattr(cfg, key):
                problems.append(f"{config}: {key}={data[key]} but the spec's tag says {getattr(cfg, key)}")
        problems += [f"{config}: {p}" for p in registered_claim_problems(cfg, data)]
    weights = folder / cfg.filename
    if weights.is_file():
        actual = sha256_of(weights)
        if isinstance(cfg.sha256, str) and actual != cfg.sha256:
            problems.append(f"{weights} has sha256 {actual}, the spec pins {cfg.sha256}")
        if isinstance(data, dict) and (folder / "README.md").is_file():  # what `zoo hub push` would refuse
            problems += [f"{folder / 'README.md'}: {p}" for p in card_text_problems(folder, data, actual)]
    return problems


def _tagged_spec(subject):
    """The subject's spec, for the checks of its pretrained tags; a skip where it has none."""
    if not subject.spec.pretrained:
        raise CheckSkipped("no pretrained tags")
    return subject.spec


@check("pretrained_tags", MODEL,
       "pretrained tags are well formed: hub id 'org/name', a .safetensors filename, sha256 and metrics (or, for "
       "weights someone else publishes, an upstream= reason), at most one default, and a complete card in "
       "hubcards/<arch>.<tag>/ when the weights are shipped, whose config.json has the tag's metrics and license")
def check_pretrained_tags(subject):
    spec = _tagged_spec(subject)
    named = os.environ.get("ZOO_HUBCARDS_DIR")
    if named and not Path(named).is_dir():  # a typo would turn every card check off without a word
        raise broken(f"ZOO_HUBCARDS_DIR names {named}, which is not a folder; point it at the folder holding the "
                     "<arch>.<tag>/ cards, or unset it")
    cards = hubcards_roots()
    by_problem: dict[str, list[str]] = {}
    for tag, cfg in spec.pretrained.items():
        for problem in tag_problems(spec.name, tag, cfg, cards):
            by_problem.setdefault(problem, []).append(tag)
    problems = [f"{spec.name}.{tags[0]}: {p}" if len(tags) == 1 else
                f"{len(tags)} tags ({', '.join(tags[:4])}{', ...' if len(tags) > 4 else ''}): {p}"
                for p, tags in by_problem.items()]
    defaults = [t for t, cfg in spec.pretrained.items() if cfg.default]
    if len(defaults) > 1:
        problems.append(f"{spec.name}: several tags are marked default: {', '.join(defaults)}")
    if problems:
        raise broken("; ".join(problems))
    reasons = sorted({r for r in map(_upstream_reason, spec.pretrained.values()) if r})
    unpinned = sum(1 for cfg in spec.pretrained.values() if _upstream_reason(cfg) and not cfg.sha256)
    upstream = f"; {unpinned} upstream tag(s) not pinned: {'; '.join(reasons)}" if unpinned else ""
    uncarded = [t for t, cfg in spec.pretrained.items() if not _upstream_reason(cfg)
                and not any((d / f"{spec.name}.{t}").is_dir() for d in cards)]
    where = ("ZOO_HUBCARDS_DIR names another folder" if os.environ.get("ZOO_HUBCARDS_DIR")
             else "run from the folder holding your hubcards/, or set ZOO_HUBCARDS_DIR")
    unchecked = (f"; no card for {len(uncarded)} tag(s) ({', '.join(uncarded[:3])}) in "
                 f"{', '.join(map(str, cards))}, so not compared ({where})" if cards and uncarded else "")
    return (f"{len(spec.pretrained)} tag(s)" + upstream + unchecked
            + ("" if cards else "; no hubcards/ folder here, cards not checked"))


@check("pretrained_builds", MODEL,
       "each pretrained tag's configuration builds (random weights, as zoo.create('arch.tag') does: the tag's "
       "num_classes, in_chans and model_kwargs over the spec's defaults) and its output follows them")
def check_pretrained_builds(subject):
    from zoo.testing.model_checks import eval_output
    from zoo.testing.tasks import INSTANCE
    from zoo.testing.tensors import describe

    spec = _tagged_spec(subject)
    configs: dict[str, tuple[dict, list[str]]] = {}
    for tag in spec.pretrained:
        overrides = subject.tag_overrides(tag)
        if all(spec.defaults.get(k, _MISSING) == v for k, v in overrides.items()):
            continue  # the default build, which every other check already runs
        configs.setdefault(repr(sorted(overrides.items())), (overrides, []))[1].append(tag)
    for overrides, tags in configs.values():
        name = f"{spec.name}.{tags[0]}" + (f" (and {len(tags) - 1} more tags)" if len(tags) > 1 else "")
        try:
            model = subject.build(**overrides)
            inputs = subject.example(in_chans=overrides.get("in_chans"))
            out = eval_output(model, inputs)
        except Exception as exc:  # noqa: BLE001
            raise broken(f"{name}: building with {overrides} and running it raised {type(exc).__name__}: {exc}; "
                         f"zoo.create({spec.name + '.' + tags[0]!r}) fails the same way") from exc
        k = overrides.get("num_classes")  # 0: no classifier, the output is features (timm's convention)
        if subject.task != INSTANCE and k and (getattr(out, "ndim", 0) < 2 or out.shape[1] != k):
            raise broken(f"{name}: built with {overrides}, the output is {describe(out)}; expected {k} classes "
                         f"in dimension 1")
    built = sum(len(tags) for _, tags in configs.values())
    return f"{len(configs)} configuration(s) built for {built} tag(s)" if configs else \
        "every tag uses the default configuration"


_MISSING = object()


@check("pretrained_weights", MODEL,
       "each tag whose card (hubcards/<arch>.<tag>/) holds its weights file loads it strictly into the tag's "
       "build, as zoo.create('arch.tag', pretrained=True) does, and the loaded model runs")
def check_pretrained_weights(subject):
    from zoo.testing.model_checks import eval_output
    from zoo.weights import build_with_weights

    spec = _tagged_spec(subject)
    cards = hubcards_roots()
    loaded = []
    for tag, cfg in spec.pretrained.items():
        if not isinstance(cfg, PretrainedCfg) or not str(cfg.filename).endswith(".safetensors"):
            continue  # pretrained_tags says what is wrong with it
        for folder in tag_cards(spec.name, tag, cfg, cards):
            weights = folder / cfg.filename
            if not weights.is_file():
                continue
            overrides = subject.tag_overrides(tag)
            try:
                model = build_with_weights(lambda: subject.build(**overrides), weights)
                eval_output(model, subject.example(in_chans=overrides.get("in_chans")))
            except Exception as exc:  # noqa: BLE001
                raise broken(f"{spec.name}.{tag}: {weights} does not load into the tag's build ({overrides}): "
                             f"{type(exc).__name__}: {exc}; zoo.create({spec.name + '.' + tag!r}, pretrained=True) "
                             "fails the same way for every user: retrain the card's weights or put the tag's "
                             "builder arguments back") from exc
            loaded.append(tag)
    if not loaded and all(_upstream_reason(cfg) for cfg in spec.pretrained.values()):
        raise CheckSkipped("upstream weights only (PretrainedCfg.upstream): someone else publishes them, without "
                           "a card")
    if not loaded:
        raise CheckSkipped(f"no card here holds the weights of {spec.name}'s {len(spec.pretrained)} tag(s) "
                           f"(cards are looked for in {', '.join(map(str, cards)) or 'no hubcards/ folder'})")
    return f"{len(loaded)} card weight file(s) loaded: {', '.join(loaded[:4])}{', ...' if len(loaded) > 4 else ''}"
