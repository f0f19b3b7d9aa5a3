"""``zoo download NAME...``: pre-fetch pretrained weights into the Hugging Face cache."""

from __future__ import annotations

import argparse
import sys

from zoo.cli.exit_codes import EXIT_OK, EXIT_RUNTIME
from zoo.cli.usage_error import UsageError
from zoo.errors import ZooError
from zoo.names import parse_name


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download", help="pre-fetch pretrained weights into the cache (for offline use)",
        description="Download (and sha256-verify) the weights of each 'arch.tag' (or 'arch', its default tag) "
                    "into the huggingface_hub cache (HF_HOME / HF_HUB_CACHE), so that HF_HUB_OFFLINE=1 "
                    "works later. Progress bars are huggingface_hub's (HF_HUB_DISABLE_PROGRESS_BARS=1 hides them).")
    p.add_argument("names", nargs="+", metavar="NAME", help="'arch.tag' or 'arch'; fnmatch patterns allowed")
    p.add_argument("--revision", default=None, help="a branch, tag or commit overriding the pinned one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.hub import check_hub_settings
    from zoo.registry import get_registry
    from zoo.specs import hub_path_problem

    problem = hub_path_problem(args.revision) if args.revision is not None else None
    if problem:  # once, not per name
        raise UsageError(f"--revision {problem}")
    check_hub_settings()
    registry = get_registry()
    names: list[str] = []
    for name in args.names:
        if any(c in name for c in "*?["):
            matched = registry.list_models(name, pretrained=True)
            if not matched:
                raise UsageError(f"no pretrained weights match {name!r}")
            names += matched
        else:
            names.append(name)
    resolved = []  # every name is checked (unknown, ambiguous: exit 2 from zoo.cli) before anything is downloaded
    for name in names:
        spec, _, tag = registry.resolve(name)
        tag = tag or spec.default_tag
        if tag is None:
            raise UsageError(f"{name!r} has no pretrained weights: nothing to download.")
        qualifier = parse_name(name).qualifier  # printed back as asked: "dist:" where plugins clash
        resolved.append((f"{qualifier}:{spec.name}.{tag}" if qualifier else f"{spec.name}.{tag}", spec, tag))
    return _fetch_all(resolved, args.revision)  # SIGTERM and SIGHUP stop it as Ctrl-C does (zoo.cli.signals)


def _fetch_all(resolved, revision) -> int:
    from zoo import hub
    from zoo.hub_cache import snapshot_commit
    from zoo.model_config import fetch_hub_config

    failed = 0
    for name, spec, tag in resolved:
        cfg = spec.pretrained[tag]
        try:
            path = hub.fetch(cfg, revision=revision)
        except ZooError as exc:
            failed += 1
            print(f"zoo: error: {name}: {exc}", file=sys.stderr)
            continue
        try:  # the repo's config.json too (class names, preprocessing), for zoo predict/explain offline,
            # at the commit the weights came from; checked now, while the mirror can still be fixed
            fetch_hub_config(cfg, snapshot_commit(path) or hub.resolved_commit(cfg, revision))
        except ZooError as exc:
            print(f"zoo: warning: {name}: config.json not usable: {exc}", file=sys.stderr)
        print(f"{name}\t{path}")
    return EXIT_RUNTIME if failed else EXIT_OK
