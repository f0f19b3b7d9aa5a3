"""Faithfulness report of every explainer on a trained classifier, for its hub card.

    python -m zoo_explainers.report cnn_cam.digits                  # hub weights
    python -m zoo_explainers.report cnn_cam.digits --weights hubcards/cnn_cam.digits/model.safetensors
    python -m zoo_explainers.report cnn_cam.digits --write-card      # -> hubcards/cnn_cam.digits/explainers.json

The dataset, its kwargs and the model's kwargs come from the card's recipe
(``hubcards/<arch>.<tag>/recipe.yaml``) when present; ``config.json`` mean/std, when present,
normalise the images as in training. The first ``-n`` test images are explained for their
true labels. ``explainers.json`` is what ``zoo.cards`` renders into the card's README.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import zoo
from zoo.cli.exit_codes import EXIT_OK, exit_status

RANDOM_MAPS = 3  # random maps each method is compared with (seeds seed, seed + 1, ...)
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam", "gradcam_pp", "hirescam",
                   "cam", "rise", "guided_backprop")


def load_batch(card_dir: Path | None, dataset: str | None, split: str, n: int, dataset_kwargs: dict):
    """(images, labels) of the first ``n`` items of ``split``, normalised as ``config.json`` says."""
    import torch

    from zoo.data import get_dataset
    from zoo.preprocessing import channel_stats, normalise

    ds = get_dataset(dataset, split, **dataset_kwargs)
    items = [ds[i] for i in range(min(n, len(ds)))]
    images = torch.stack([it["image"] for it in items])
    labels = torch.stack([torch.as_tensor(it["label"]) for it in items])
    config = _config(card_dir)
    if "mean" in config and "std" in config:
        images = normalise(images, *channel_stats(config, images.shape[1], card_dir / "config.json"))
    return images, labels


def _config(card_dir: Path | None) -> dict:
    from zoo.model_config import read_config

    path = card_dir / "config.json" if card_dir else None
    return read_config(path) if path and path.is_file() else {}


def build_report(name: str, *, weights: str | None = None, card_dir: Path | None = None,
                 dataset: str | None = None, split: str = "test", n: int = 64,
                 methods=DEFAULT_METHODS, steps: int = 32, seed: int = 0, n_randomizations: int = 5) -> dict:
    """Run :func:`zoo_explainers.faithfulness.evaluate` and return the card's ``explainers.json``."""
    import torch

    from zoo_explainers.faithfulness import SANITY_THRESHOLD, blur_kernel, evaluate, format_reports

    model_kwargs, dataset_kwargs = {}, {}
    if card_dir is not None and card_dir.is_dir():
        from zoo.recipes import load_recipe, recipe_file

        recipe = load_recipe(card_dir) if recipe_file(card_dir) else None  # without one: the arguments
        if recipe is not None:
            dataset = dataset or recipe.dataset
            dataset_kwargs = dict(recipe.dataset_kwargs)
            model_kwargs = dict(recipe.model_kwargs, num_classes=recipe.num_classes, in_chans=recipe.in_chans)
    if dataset is None:
        raise zoo.ArgumentError("no dataset: pass dataset= (--dataset) or a card folder with a recipe (--card)")
    config = _config(card_dir)
    if "mean" in config and "std" in config:  # a bad one is refused before the model is built
        from zoo.preprocessing import channel_stats

        channel_stats(config, model_kwargs.get("in_chans") or config.get("in_chans") or 3, card_dir / "config.json")
    if weights:
        model = zoo.create(name, weights=weights, **model_kwargs)
    else:
        model = zoo.create(name, pretrained=True, **model_kwargs)
    model.eval()
    images, labels = load_batch(card_dir, dataset, split, n, dataset_kwargs)
    from zoo.seeding import seeded

    with seeded(seed, model, images):  # the caller's random state is left as it was
        reports = evaluate(model, images, methods, labels.tolist(), steps=steps, seed=seed, n_random=RANDOM_MAPS,
                           n_randomizations=n_randomizations)
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    passed = [r.method for r in reports if r.sanity_passed and r.beats_random]
    blur = blur_kernel(*images.shape[-2:])
    failed = [r.method for r in reports if not r.sanity_passed]
    summary = (f"Faithfulness of the explainers on the first {len(labels)} {split} images ({dataset}; "
               f"model accuracy on them {accuracy:.3f}), explaining the true class. Sanity check: Spearman "
               f"rank correlation between the maps of this model and of copies with re-initialised weights "
               f"(Adebayo et al. 2018; {n_randomizations} copies, weight seeds {seed} to "
               f"{seed + n_randomizations - 1}, each module's reset_parameters() under the seed, any other parameter "
               f"redrawn from a normal with its own std; per image, then the mean over the images, then over the "
               f"copies, the range being that of the per-copy means; "
               f"passes when the mean is below {SANITY_THRESHOLD}, lower is better; "
               f"decided on the maps as returned, signed for integrated gradients, with the correlation of |maps| "
               f"beside it). Deletion AUC: class probability as the most important pixels are zeroed first (lower is "
               f"better); insertion AUC: from a Gaussian blur of the image (kernel {blur[0]} px, sigma {blur[1]:g}, "
               f"reflect padding), the most important pixels restored first (higher is better); {steps} steps "
               f"({steps + 1} points, trapezoid rule), equal map values in a seeded random order; each against "
               f"random maps (mean over {RANDOM_MAPS} draws, seeds {seed} to {seed + RANDOM_MAPS - 1}). Beats "
               f"random: lower deletion AUC than the random maps. {_settings_text(methods, seed)} "
               f"Pass both (sanity check and beats random): "
               f"{', '.join(passed) or 'none'}. "
               f"Fail the sanity check: {', '.join(failed) or 'none'} "
               f"(see the notes; for each, the notes also give Adebayo et al.'s cascading test, layers "
               f"re-initialised one by one from the output end, weight seed {seed}). "
               f"Reproduce, from the repository root: `python -m zoo_explainers.report {name} --weights "
               f"hubcards/{name}/model.safetensors` (without --weights: the hub's copy).")
    rows = [{"method": r.method, "rank corr vs random weights": round(r.rank_corr_randomized, 4),
             "range over re-initialisations": f"{r.rank_corr_randomized_range[0]:.3f} to "
                                              f"{r.rank_corr_randomized_range[1]:.3f}",
             "rank corr of abs. values": round(r.rank_corr_randomized_abs, 4),
             "sanity check": "pass" if r.sanity_passed else "FAIL",
             "deletion AUC": round(r.deletion_auc, 4), "deletion AUC random map": round(r.random_deletion_auc, 4),
             "insertion AUC": round(r.insertion_auc, 4),
             "insertion AUC random map": round(r.random_insertion_auc, 4),
             "beats random": "yes" if r.beats_random else "no", "notes": "; ".join(r.notes)} for r in reports]
    return {"summary": summary, "rows": rows, "markdown": format_reports(reports),
            "sha256": _weights_sha256(name, weights)}


def _settings_text(methods, seed: int) -> str:
    """The options the methods ran with (their defaults), read from their signatures so the text
    cannot drift from the code, and the plugin versions that ran them."""
    import inspect

    from zoo.registry import get_registry

    tuned, versions = [], set()
    for method in methods:
        _, plugin = get_registry().explainer(method)
        versions.add(f"{plugin.distribution} {plugin.version}")
        parameters = inspect.signature(get_registry().explainer_builder(method)).parameters.values()
        options = [f"{p.name}={p.default!r}" for p in parameters
                   if isinstance(p.default, (int, float, str)) and not isinstance(p.default, bool)
                   and p.name != "chunk_size"]
        if options:
            tuned.append(f"{method} {', '.join(options)}")
    return (f"Every method runs with its default options ({', '.join(sorted(versions))}"
            + (f": {'; '.join(tuned)}" if tuned else "") + f"), stochastic ones under torch's random seed {seed}.")


def _weights_sha256(name: str, weights: str | None) -> str | None:
    """The sha256 of the weights measured: the card renderer shows a report only beside them."""
    from zoo.hub import sha256_of

    if weights:
        return sha256_of(weights)
    spec, _, tag = zoo.get_registry().resolve(name, pretrained=True)
    return spec.pretrained[tag].sha256


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo_explainers.report", description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="'arch.tag', e.g. cnn_cam.digits")
    p.add_argument("--weights", help="a local .safetensors file instead of the hub weights")
    p.add_argument("--card", type=Path, help="hub card folder (default: hubcards/NAME if it exists)")
    p.add_argument("--dataset", help="dataset name (default: the recipe's)")
    p.add_argument("--split", default="test")
    p.add_argument("-n", type=int, default=64, help="images to explain (default 64)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    p.add_argument("--steps", type=int, default=32, help="deletion/insertion steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--randomizations", type=int, default=5,
                   help="re-initialised copies the sanity check compares against (default 5)")
    p.add_argument("--json", type=Path, help="write the report (summary + rows) to this file")
    p.add_argument("--write-card", action="store_true", help="write CARD/explainers.json for the card renderer")
    args = p.parse_args(argv)
    card = args.card or (Path("hubcards") / args.name)
    try:
        report = build_report(args.name, weights=args.weights, card_dir=card if card.is_dir() else None,
                              dataset=args.dataset, split=args.split, n=args.n, methods=args.methods,
                              steps=args.steps, seed=args.seed, n_randomizations=args.randomizations)
    except zoo.ZooError as exc:  # named and explained by the zoo: one line, as the zoo's commands print it
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return exit_status(exc)
    print(report["summary"] + "\n")
    print(report["markdown"])
    payload = {"summary": report["summary"], "rows": report["rows"], "sha256": report["sha256"]}
    for path in [args.json] + ([card / "explainers.json"] if args.write_card else []):
        if path:
            path.write_text(json.dumps(payload, indent=2) + "\n")
            print(f"wrote {path}", file=sys.stderr)
    if args.write_card and (card / "README.md").is_file():
        from zoo.cards import rewrite_card

        print(f"wrote {rewrite_card(card)}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
