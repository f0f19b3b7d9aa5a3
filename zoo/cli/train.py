"""``zoo train hubcards/<arch>.<tag>``: retrain a hub card's weights from its recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.exit_codes import EXIT_OK


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="reproduce a hub card's weights from its recipe",
        description="Train the recipe in a hub-card folder with its fixed seed and write model.safetensors, "
                    "config.json and the card README.md (with metrics measured on the test split) there.")
    p.add_argument("card", help="hub-card folder holding recipe.yaml, e.g. hubcards/cnn_cam.digits, or its "
                                "name (cnn_cam.digits: found as zoo evaluate finds it)")
    p.add_argument("--epochs", type=positive_int, metavar="N",
                   help="override the recipe's epochs (for a quick try; the card then says so)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from zoo.card_models import card_dir_for
    from zoo.train import pretrained_cfg_source, train

    # a path (missing: the recipe error, exit 3), or a card's name (unknown: exit 2, the closest names)
    card = Path(args.card) if "/" in args.card or Path(args.card).exists() else card_dir_for(args.card)
    config = train(card, epochs=args.epochs, progress=not args.no_progress)
    print(f"wrote {card}/model.safetensors (sha256 {config['sha256']})")
    print("metrics: " + ", ".join(f"{k}={v}" for k, v in config["metrics"].items()))
    print(f"to publish it, add to the plugin's pretrained tags:\n  \"{config['tag']}\": "
          + pretrained_cfg_source(config))
    return EXIT_OK
