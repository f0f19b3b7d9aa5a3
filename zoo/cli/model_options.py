"""The options ``zoo predict`` and ``zoo explain`` share: a model (NAME[.TAG], its weights, config,
class and channel overrides, a device), the IMAGE files to run it on, and the ``--alpha`` of what
is drawn over them.

Defined, checked and loaded here once, so the two commands read the same options the same way and
refuse the same bad usage with the same words; each command keeps its own options in its module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli.device_option import add_device_option, device_problem
from zoo.cli.usage_error import UsageError
from zoo.model_config import CONFIG_NAME


def add_model_options(parser: argparse.ArgumentParser, *, example: str, drawn: str) -> None:
    """NAME, IMAGE..., --alpha, and a "model" section of the help: --pretrained | --weights,
    --config, --num-classes, --in-chans, --device. ``example`` is a NAME for the help, ``drawn``
    what --alpha is the opacity of."""
    parser.add_argument("name", metavar="NAME[.TAG]", help=f"model name, e.g. {example}")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files Pillow can read")
    parser.add_argument("--alpha", type=float, default=0.5, help=f"opacity of {drawn}, in [0, 1] (default 0.5)")
    model = parser.add_argument_group("model", "the weights, config and device NAME runs with")
    source = model.add_mutually_exclusive_group()
    source.add_argument("--pretrained", action="store_true",
                        help="load the tag's weights from the Hub (implied when NAME has a tag)")
    source.add_argument("--weights", metavar="PATH", help="a local .safetensors file to load")
    model.add_argument("--config", metavar="PATH", help=f"a {CONFIG_NAME} with label_names, mean, std, input_size")
    model.add_argument("--num-classes", type=int, help="override the number of classes the model is built with")
    model.add_argument("--in-chans", type=int, choices=(1, 3), help="override the model's input channels (1 or 3)")
    add_device_option(model)


def resolve_model(args: argparse.Namespace, tasks: tuple[str, ...], verb: str):
    """(spec, tag) of NAME; a model of a task outside ``tasks`` is a usage error saying what
    ``zoo <command> <verb>`` (draws, explains...)."""
    from zoo.registry import get_registry

    spec, _plugin, tag = get_registry().resolve(args.name, pretrained=args.pretrained)
    if spec.task not in tasks:
        article = "an" if spec.task[0] in "aeiou" else "a"
        raise UsageError(f"{spec.name} is {article} {spec.task} model; zoo {args.command} {verb} "
                         f"{' and '.join(tasks)} models")
    return spec, tag


def _image_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as an image file, before any weights are read (None: it can)."""
    found = Path(path)
    if found.is_file():
        return None
    if found.is_dir():
        return f"{path} is a folder, not an image file; pass the images in it (e.g. {found / '*.png'})"
    if found.exists():
        return f"{path} is not a regular file (a device, a pipe or a socket); pass an image file"
    return f"no such image file: {path}"


def check_model_options(args: argparse.Namespace) -> None:
    """The IMAGE files exist, --alpha is in [0, 1] and torch can run on --device, before any
    weights are read."""
    problems = [problem for problem in map(_image_file_problem, args.images) if problem]
    if problems:
        raise UsageError("; ".join(problems))
    if not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be in [0, 1], got {args.alpha}")
    problem = device_problem(args.device)
    if problem:
        raise UsageError(problem)


def load_model(args: argparse.Namespace, spec, tag: str | None, *, untrained: str = ""):
    """The model the options name, with its config (:func:`zoo.model_config.load_for_inference`).
    Without weights it warns that the model is random; ``untrained`` adds what that means for
    this command's output."""
    from zoo.model_config import load_for_inference

    pretrained = args.weights is None and (args.pretrained or tag is not None)
    if args.weights is None and not pretrained:
        print(f"zoo {args.command}: warning: no weights given; {spec.name} is randomly initialised{untrained} "
              "(use --weights PATH or --pretrained)", file=sys.stderr)
    return load_for_inference(args.name, spec, tag, pretrained=pretrained, weights=args.weights,
                              config_path=args.config, num_classes=args.num_classes, in_chans=args.in_chans,
                              device=args.device)
