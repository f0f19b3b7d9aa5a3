"""``zoo list`` and ``zoo info`` (of a model, or of an explainer)."""

from __future__ import annotations

import argparse

from zoo.cli.exit_codes import EXIT_OK
from zoo.cli.table import format_table
from zoo.cli.usage_error import UsageError
from zoo.errors import UnknownExplainerError, UnknownModelError, ZooError
from zoo.names import close_names
from zoo.plugin_record import claim_label
from zoo.registry import get_registry
from zoo.specs import TASKS


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list models and explainers",
                              description="List registered architectures (or pretrained tags) and explainers.")
    p.add_argument("patterns", nargs="*", metavar="pattern",
                   help="fnmatch patterns, e.g. 'fcn*' 'unet*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="list 'arch.tag' pretrained weight sets")
    p.add_argument("--task", choices=TASKS, help="only models of this task")
    p.add_argument("--explainers", action="store_true", help="only explainers")
    p.add_argument("--names", action="store_true",
                   help="print bare names, one per line: the models' (the explainers' with --explainers)")
    p.set_defaults(func=run_list)

    p = subparsers.add_parser("info", help="show a model's spec, plugin and pretrained tags (or an explainer's)",
                              description="Show where a model comes from and its pretrained weights; for an "
                                          "explainer, its tasks, plugin and options.")
    p.add_argument("name", help="'arch', 'arch.tag' or an explainer's name")
    p.set_defaults(func=run_info)


def run_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    if args.explainers and (args.pretrained or args.task):
        raise UsageError("--explainers lists explainers only: it does not combine with --pretrained or --task")
    patterns = args.patterns or ["*"]
    names = [] if args.explainers else registry.list_models(patterns, pretrained=args.pretrained, task=args.task)
    explainers = [] if (args.pretrained or args.task) else registry.list_explainers(patterns)
    model_rows = [_model_row(registry, name) for name in names]
    explainer_rows = [_explainer_row(registry, name) for name in explainers]
    if args.names:  # for scripts: one kind of name, never models and explainers mixed (no line for none)
        for row in explainer_rows if args.explainers else model_rows:
            print(row[0])
        return EXIT_OK
    if not args.explainers:
        print(format_table(["model", "task", "plugin", "metrics" if args.pretrained else "pretrained tags"],
                           model_rows))
    if explainer_rows:
        if not args.explainers:
            print()
        print(format_table(["explainer", "tasks", "plugin", "description"], explainer_rows))
    if args.patterns and not (model_rows or explainer_rows):
        _say_nothing_matched(registry, args)
    return EXIT_OK


def _say_nothing_matched(registry, args: argparse.Namespace) -> None:
    """An empty listing is an answer (exit 0, as timm's list_models gives []), but the table alone
    looked like a broken listing: say so on stderr, with close names."""
    import sys

    known = [] if args.explainers else registry.list_models(pretrained=args.pretrained, task=args.task)
    known += [] if (args.pretrained or args.task) else registry.list_explainers()
    close = sorted({n for p in args.patterns for n in close_names(p.replace("*", "").replace("?", ""), known)})
    hint = f" (close: {', '.join(close)})" if close else ""
    kind = ("explainer" if args.explainers else "pretrained weight set" if args.pretrained else "model"
            if args.task else "model or explainer")
    of_task = f" of task {args.task}" if args.task else ""
    print(f"zoo: no {kind}{of_task} matches {' '.join(map(repr, args.patterns))}{hint}", file=sys.stderr)


def _model_row(registry, name: str) -> list[str]:
    """``name`` as the registry lists it: qualified (``label:name``) where several plugins claim it."""
    spec, plugin, tag = registry.resolve(name)
    detail = _metrics(spec.pretrained[tag].metrics) if tag else _first(list(spec.pretrained))
    return [name, spec.task, plugin.distribution, detail]


def _explainer_row(registry, name: str) -> list[str]:
    spec, plugin = registry.explainer(name)
    return [name, ", ".join(spec.tasks), plugin.distribution, spec.description]


def run_info(args: argparse.Namespace) -> int:
    registry = get_registry()
    try:
        info = registry.model_info(args.name)
    except UnknownModelError as exc:
        if _is_explainer(registry, args.name):
            return _explainer_info(registry, args.name)
        close = close_names(args.name, registry.list_explainers())
        if close:  # `zoo info` shows explainers too: a misspelt one is hinted as a model would be
            raise UnknownModelError(f"{exc} Explainers with a close name: {', '.join(close)}") from None
        raise
    builder = info.builder if isinstance(info.builder, str) else getattr(info.builder, "__qualname__", repr(info.builder))
    _, plugin, _ = registry.resolve(args.name)  # the claim model_info describes
    # where plugins clash, the name that creates this claim, as `zoo list` shows it
    label = claim_label([p for _, p in registry.architecture_candidates(info.name)], plugin)
    label = f"{label}:" if label else ""
    print(f"name:         {label}{info.name}")
    print(f"task:         {info.task}")
    print(f"description:  {_printable(info.description)}")
    print(f"plugin:       {info.plugin} ({info.distribution} {info.version})")
    print(f"builder:      {builder}")
    print(f"defaults:     {info.defaults}")
    if not info.pretrained:
        print("pretrained:   none")
    for tag, cfg in info.pretrained.items():
        default = " (default)" if tag == info.default_tag else ""
        print(f"pretrained:   {label}{info.name}.{tag}{default}")
        print(f"  hub:        {cfg.hf_hub_id}@{cfg.revision}/{cfg.filename}")
        print(f"  sha256:     {cfg.sha256 or '-'}")
        if cfg.upstream:
            print(f"  upstream:   {_printable(cfg.upstream)}")
        print(f"  classes:    {cfg.num_classes}, in_chans {cfg.in_chans}, license {cfg.license or '-'}")
        if cfg.model_kwargs:  # what the weights were trained with, on top of the defaults
            print(f"  kwargs:     {cfg.model_kwargs}")
        print(f"  metrics:    {_metrics(cfg.metrics) or '-'}")
    return EXIT_OK


def _is_explainer(registry, name: str) -> bool:
    try:
        registry.explainer(name)
    except UnknownExplainerError:
        return False
    return True


def _explainer_info(registry, name: str) -> int:
    """``zoo info gradcam``: what ``zoo list --explainers`` shows, plus the builder and its options."""
    from zoo.explain import shown_options

    spec, plugin = registry.explainer(name)
    builder = spec.builder if isinstance(spec.builder, str) else getattr(spec.builder, "__qualname__",
                                                                         repr(spec.builder))
    try:
        options = shown_options(registry.explainer_builder(name))
        options_shown = "any (the builder takes **kwargs)" if options is None else ", ".join(options) or "none"
    except ZooError as exc:  # a builder that does not import: say so, the rest is still worth showing
        options_shown = f"unknown: {exc}"
    name_shown = name if ":" in name else spec.name  # where plugins clash, the qualified name that creates it
    print(f"name:         {name_shown} (explainer: zoo.create_explainer, zoo explain --method)")
    print(f"tasks:        {', '.join(spec.tasks)}")
    print(f"description:  {_printable(spec.description)}")
    print(f"plugin:       {plugin.name} ({plugin.distribution} {plugin.version})")
    print(f"builder:      {builder}")
    print(f"options:      {_printable(options_shown)}")
    print("sanity check: " + ("must pass (zoo check)" if spec.sanity_check is True
                              else f"known to fail: {_printable(str(spec.sanity_check))}"))
    return EXIT_OK


def _printable(text: str) -> str:
    """A plugin's free text with its control characters escaped: an escape sequence in a
    description could retitle or clear the user's terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _first(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _metrics(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
