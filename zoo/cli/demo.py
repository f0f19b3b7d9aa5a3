"""``zoo demo -o DIR``: the README's main job (see :mod:`zoo.demo`)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from zoo.demo import DEFAULT_METHODS

    p = subparsers.add_parser(
        "demo", help="serve hubcards/ offline, run every pretrained model and write PNGs to check by eye",
        description="Serve the hub cards as the embedded hub (olah on loopback), create every shipped model with "
                    "pretrained=True through it, and write prediction overlays (next to the ground truth) and "
                    "explanation maps on held-out test images into DIR.")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="folder for the PNGs (created)")
    p.add_argument("--hubcards", default="hubcards", help="hub-cards folder to serve (default: ./hubcards)")
    p.add_argument("-n", "--images", type=int, default=4, help="test images per model (default 4)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), help="explainers for the classifiers")
    p.add_argument("--no-serve", action="store_true",
                   help="do not start the embedded hub; use the HF_ENDPOINT already set")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.demo import run_demo

    run_demo(args.output_dir, hubcards=args.hubcards, n_images=args.images, methods=args.methods,
             serve=not args.no_serve)
    return 0
