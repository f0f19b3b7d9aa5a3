"""``zoo evaluate <arch>.<tag>``: a hub card's metrics on the held-out split."""

from __future__ import annotations

import argparse
import json

from zoo.cli.device_option import add_device_option, device_problem
from zoo.cli.exit_codes import EXIT_OK
from zoo.cli.usage_error import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="measure a hub card's model on its held-out test split",
        description="Evaluate hubcards/<arch>.<tag> (its model.safetensors, or --pretrained from the hub) on "
                    "the test split of its dataset with torchmetrics, and print the metrics.")
    p.add_argument("name", help="'arch.tag' or 'arch' (its default tag; a card under --hubcards), or a hub-card "
                                "folder")
    p.add_argument("--hubcards", default=None,
                   help="folder of hub cards (default: $ZOO_HUBCARDS_DIR, else the source tree's hubcards/, "
                        "else ./hubcards; then your project's hubcards/)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a .safetensors file to evaluate instead of the card's")
    source.add_argument("--pretrained", action="store_true",
                        help="load through zoo.create(name, pretrained=True) (from the hub)")
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.card_models import card_dir_for, read_card_config
    from zoo.evaluate import evaluate

    problem = device_problem(args.device)
    if problem:
        raise UsageError(problem)
    card_dir = card_dir_for(args.name, args.hubcards)  # unknown name or tag: exit 2 with suggestions
    metrics = evaluate(str(card_dir), split=args.split, weights=args.weights, pretrained=args.pretrained,
                       progress=not args.json, device=args.device)
    if args.json:
        print(json.dumps(metrics))
        return EXIT_OK
    card = read_card_config(card_dir)
    print(f"{card_dir.name} on the {args.split} split:")
    for key, value in metrics.items():
        recorded = card.get("metrics", {}).get(key)
        note = f"   (card: {recorded:.4f})" if recorded is not None and args.split == "test" else ""
        print(f"  {key:14s} {value:.4f}{note}")
    return EXIT_OK
