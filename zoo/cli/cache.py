"""``zoo cache``: what the zoo keeps in its own cache folder, and clearing it."""

from __future__ import annotations

import argparse

from zoo.cli.exit_codes import EXIT_OK


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "cache", help="show (or clear) the zoo's own cache folder",
        description="Show what the zoo keeps in $ZOO_CACHE_DIR (default ~/.cache/visionzoo): the "
                    "checked-files record (checked/), aligned copies of Hub weight files (aligned/) and "
                    "`zoo hub serve`'s repositories (hub-serve/). Downloaded weights live in the Hugging Face "
                    "cache, not here.")
    p.add_argument("--clear", action="store_true",
                   help="delete checked/ and aligned/ (derived data, rebuilt when needed: the next load of each "
                        "file checks it again and makes its copy again); hub-serve/ is left alone")
    p.set_defaults(func=run, plugins_up_front=False)  # uses no plugin: works whatever they do


def run(args: argparse.Namespace) -> int:
    from zoo.cache_dir import DERIVED, clear, contents, zoo_cache_dir
    from zoo.cli.table import format_table
    from zoo.errors import ZooError

    folder = zoo_cache_dir()
    if folder.exists() and not folder.is_dir():  # it printed "(empty)": nothing could ever be kept there
        raise ZooError(f"the zoo's cache folder {folder} is a file, not a folder: point ZOO_CACHE_DIR at a folder")
    if args.clear:
        for folder in clear(DERIVED):
            print(f"removed {folder}")
    print(f"zoo cache: {zoo_cache_dir()}")
    rows = [[name, files, _size(size)] for name, files, size in contents()]
    print(format_table(["folder", "files", "size"], rows) if rows else "(empty)")
    print(f"downloaded weights: not here, in the Hugging Face cache{_hf_cache()} (`hf cache ls` lists them, "
          "`hf cache rm` removes them)")
    return EXIT_OK


def _hf_cache() -> str:
    from zoo.errors import ZooError
    from zoo.hub import HubSettings

    try:
        return f" {HubSettings.from_env().cache_dir}"
    except ZooError:  # a setting huggingface_hub cannot read: `zoo download` says which
        return ""


def _size(n: float) -> str:
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            break
        n /= 1024
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
