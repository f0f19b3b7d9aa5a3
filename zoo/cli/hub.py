"""``zoo hub serve`` (the embedded offline hub) and ``zoo hub push`` (publish a hub card)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from zoo.cli.exit_codes import EXIT_OK, EXIT_RUNTIME
from zoo.cli.signals import handling
from zoo.cli.usage_error import UsageError
from zoo.errors import ChecksumError, HubError


def register(subparsers) -> None:
    hub = subparsers.add_parser("hub", help="serve hub cards offline, or push one to the Hub",
                                description="Serve hubcards/ as an offline Hugging Face hub, or push a card.")
    commands = hub.add_subparsers(dest="hub_command", metavar="SUBCOMMAND", required=True)

    p = commands.add_parser("serve", help="serve every hubcards/<arch>.<tag>/ folder with olah on loopback",
                            description="Turn every hubcards/<arch>.<tag>/ folder into a git repository and "
                                        "serve them as Hub repos with olah; prints the HF_ENDPOINT to export.")
    p.add_argument("hubcards", nargs="?", default=None,
                   help="hub-cards directory (default: $ZOO_HUBCARDS_DIR, else the source tree's hubcards/, "
                        "else ./hubcards)")
    p.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, loopback only; anything else exposes the files)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where the git repositories and olah's config live (default $ZOO_CACHE_DIR/hub-serve, "
                        "i.e. ~/.cache/visionzoo/hub-serve)")
    p.set_defaults(func=run_serve, usage_prog=p.prog)  # usage errors read 'zoo hub serve: error:'

    p = commands.add_parser("push", help="upload a hub card to the Hugging Face Hub",
                            description="Upload hubcards/<arch>.<tag>/ with huggingface_hub (create_repo + "
                                        "upload_folder), after checking its weights against the recorded sha256 "
                                        "and its card (README.md model-index metrics, metrics table, license and "
                                        "stated sha256) against config.json.")
    p.add_argument("name", help="'<arch>.<tag>', the card folder's name")
    p.add_argument("--repo-id", required=True, help="target repository, ORG/NAME")
    p.add_argument("--hubcards", type=Path, default=None,
                   help="hub-cards directory (default: $ZOO_HUBCARDS_DIR, else the source tree's hubcards/, "
                        "else ./hubcards)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", action="store_true", help="check and list what would be uploaded; upload nothing")
    p.set_defaults(func=run_push, usage_prog=p.prog)


def _hubcards(given, how: str = "pass --hubcards DIR") -> Path:
    """The folder given or the default; a missing one is a HubError that says how to pass it."""
    from zoo.card_folders import default_hubcards_dir, missing_hubcards_message

    hubcards = Path(given) if given is not None else default_hubcards_dir()
    if not hubcards.is_dir():
        raise HubError(missing_hubcards_message(hubcards, how))
    return hubcards


# ----------------------------------------------------------------------------- serve
def run_serve(args: argparse.Namespace) -> int:
    from zoo.hub import check_hub_settings
    from zoo.hub_server import HubServer, is_loopback

    check_hub_settings()  # olah imports huggingface_hub, which would die on it at start

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0-65535 (0 takes a free one), got {args.port}")
    if not is_loopback(args.host):
        print(f"zoo: warning: binding {args.host}: every hub card becomes readable from the network",
              file=sys.stderr)
    hubcards = _hubcards(args.hubcards, how="name it: zoo hub serve DIR")
    server = HubServer(hubcards, port=args.port, cache_dir=args.cache_dir, host=args.host)
    stop = threading.Event()
    with handling(("SIGINT", "SIGTERM", "SIGHUP"), lambda *_: stop.set()), server:  # SIGHUP: a closed terminal
        for hub_id, sha in sorted(server.repos.items()):
            print(f"serving {hub_id} @ {sha}", file=sys.stderr)
        if not server.repos:  # every download would then be a HubNotFoundError, found out later
            print(f"zoo: warning: {hubcards} holds no hub cards (<arch>.<tag>/ folders): nothing is served",
                  file=sys.stderr)
        print(f"export HF_ENDPOINT={server.endpoint}", flush=True)
        print("(Ctrl-C to stop)", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            if not server.running:
                print("zoo: error: olah stopped; see " + str(server.log_file), file=sys.stderr)
                return EXIT_RUNTIME
    return EXIT_OK


# ----------------------------------------------------------------------------- push
def push_plan(name: str, hubcards: Path | None = None) -> tuple[Path, list[Path], dict]:
    """Check a card and return (folder, files to upload, info); raise if it must not be pushed.

    The weights must hash to every recorded sha256: the registry's PretrainedCfg (when the
    name is registered) and the card's config.json ``sha256``. The card (README.md) must agree
    with config.json: its model-index metrics equal config.json's ``metrics``, and every sha256
    its body states is the file's (a card that states none, or has no model-index and no metrics,
    has nothing to contradict). A registered tag's metrics and license must be config.json's.
    """
    from zoo.cards import card_files, card_text_problems, registered_claim_problems
    from zoo.hub import sha256_of
    from zoo.model_config import read_config
    from zoo.registry import get_registry
    from zoo.safetensors_file import read_header

    card = _hubcards(hubcards) / name
    if not card.is_dir():
        from zoo.hub_server import card_dirs
        from zoo.names import close_names

        close = close_names(name, [c.name for c in card_dirs(card.parent)], n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        here = Path("hubcards") / name
        if hubcards is None and here.is_dir():  # the default is the zoo's own folder, not the cwd's
            hint = f" {here} is here: pass --hubcards hubcards."
        raise UsageError(f"{card}: no such hub card folder (expected <hubcards>/<arch>.<tag>/).{hint}")
    config = read_config(card / "config.json") if (card / "config.json").is_file() else {}
    filename, recorded = config.get("filename", "model.safetensors"), {}
    if config.get("sha256"):
        recorded[f"{card / 'config.json'}"] = config["sha256"]
    cfg = get_registry().pretrained_cfg_of_card(name)  # None: a card no plugin registers
    if cfg is not None:
        filename = cfg.filename
        if cfg.sha256:
            recorded[f"the registered PretrainedCfg of {name}"] = cfg.sha256
    weights = card / filename
    if not weights.is_file():
        raise HubError(f"{card}: the weights file {filename} is missing")
    read_header(weights)  # a corrupt file is never published
    if not recorded:
        raise ChecksumError(f"{weights}: no sha256 is recorded for it (config.json 'sha256' or the plugin's "
                            "PretrainedCfg), so it cannot be checked; record it before pushing.")
    actual = sha256_of(weights, fresh=True)  # what is published is hashed as it is now
    # every refusal at once, so one dry run shows all there is to fix
    refusals = []
    wrong = {where: sha for where, sha in recorded.items() if sha != actual}
    if wrong:
        lines = "; ".join(f"{where} records {sha}" for where, sha in wrong.items())
        refusals.append(f"{weights} has sha256 {actual} but {lines}. Retrain or re-export the card, or update the "
                        "recorded sha256")
    claims = registered_claim_problems(cfg, config) if cfg is not None else []
    if claims:
        refusals.append(f"its registered PretrainedCfg disagrees with {card / 'config.json'}: " + "; ".join(claims)
                        + ". Correct the plugin's PretrainedCfg (or the card, if the plugin is right)")
    # the card is held to config.json's record; the record against the file is the refusal above, said once
    problems = card_text_problems(card, config, config["sha256"] if wrong and config.get("sha256") else actual)
    if problems:
        from zoo.recipes import recipe_file

        fix = ("re-render README.md from its recipe (zoo.cards.rewrite_card) or retrain"
               if recipe_file(card) else "correct README.md (this card has no recipe)")
        refusals.append(f"the card disagrees with {card / 'config.json'} and the weights: " + "; ".join(problems)
                        + f". Fix each as said ({fix})")
    if refusals:
        error = ChecksumError if wrong else HubError
        raise error(f"refusing to push {name}:" + "".join(f"\n  - {refusal}." for refusal in refusals)
                    + "\nThen push again.")
    files = card_files(card)
    hub_id = cfg.hf_hub_id if cfg is not None else config.get("hf_hub_id")
    return card, files, {"sha256": actual, "filename": filename, "hf_hub_id": hub_id}


def run_push(args: argparse.Namespace) -> int:
    from zoo.hub import check_hub_settings
    from zoo.specs import is_hub_id

    check_hub_settings()

    if not is_hub_id(args.repo_id):
        raise UsageError(f"--repo-id {args.repo_id!r} is not of the form ORG/NAME")
    card, files, info = push_plan(args.name, args.hubcards)
    expected = info["hf_hub_id"]
    if expected and expected != args.repo_id:
        print(f"zoo: warning: {args.name} loads its weights from {expected} (the registered tag, or the card's "
              f"config.json); pushed to {args.repo_id}, pretrained=True will not find them", file=sys.stderr)
    print(f"{args.name} -> {args.repo_id} ({info['filename']} sha256 {info['sha256']})")
    for path in files:
        print(f"  {path.relative_to(card).as_posix()}  {path.stat().st_size} bytes")
    if args.dry_run:
        print("dry run: nothing uploaded")
        return EXIT_OK
    from huggingface_hub import HfApi

    from zoo.hub import HubSettings
    from zoo.hub_errors import redact

    api = HfApi(endpoint=HubSettings.from_env().endpoint)
    try:
        api.create_repo(args.repo_id, repo_type="model", private=args.private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(card), repo_id=args.repo_id, repo_type="model",
                                   allow_patterns=[p.relative_to(card).as_posix() for p in files],
                                   commit_message=f"Upload {args.name} (sha256 {info['sha256'][:12]})")
    except Exception as exc:  # noqa: BLE001 - report any hub failure without a token in it
        raise HubError(redact(f"push of {args.name} to {args.repo_id} failed: {type(exc).__name__}: {exc}")) from None
    print(f"pushed: {getattr(commit, 'commit_url', commit)}")
    return EXIT_OK
