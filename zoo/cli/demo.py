"""``zoo demo -o DIR``: the README's main job (see :mod:`zoo.demo`).

Exit codes: 0 done; 2 bad usage (``-n`` below 1, an unknown ``--methods`` name, ``-o`` naming a
file or a folder that cannot be created); 3 a hub or weights error (no hub-cards folder, a card
that fails its checks); 130 interrupted (Ctrl-C, or SIGTERM, which lets the model at hand finish:
the embedded hub is stopped and the temporary folder removed first, as ``zoo hub serve`` does).
"""

from __future__ import annotations

import argparse
import contextlib

from zoo.cli.exit_codes import EXIT_OK
from zoo.cli.signals import handling
from zoo.cli.train import positive_int
from zoo.cli.usage_error import UsageError


def register(subparsers) -> None:
    from zoo.demo import DEFAULT_METHODS

    p = subparsers.add_parser(
        "demo", help="serve hubcards/ offline, run every pretrained model and write PNGs to check by eye",
        description="Serve the hub cards as the embedded hub (olah on loopback), create every shipped model with "
                    "pretrained=True through it, and write prediction overlays (next to the ground truth) and "
                    "explanation maps on held-out test images into DIR.")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="folder for the PNGs (created)")
    p.add_argument("--hubcards", default=None,
                   help="hub-cards folder to serve (default: $ZOO_HUBCARDS_DIR, else the source tree's hubcards/, "
                        "else ./hubcards)")
    p.add_argument("-n", "--images", type=positive_int, default=4, metavar="N",
                   help="test images per model (default 4; the classifiers' explanation sheet shows at least 6)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), help="explainers for the classifiers")
    p.add_argument("--no-serve", action="store_true",
                   help="do not start the embedded hub; use the environment as it is (HF_ENDPOINT, the Hugging "
                        "Face cache, HF_HUB_OFFLINE)")
    p.set_defaults(func=run)


@contextlib.contextmanager
def sigterm_as_stop_request():
    """While the demo runs, SIGTERM asks it to stop: it finishes the model at hand, then stops as on
    Ctrl-C, so its ``finally`` blocks stop olah and remove the temporary folder (SIGTERM's default
    kills Python and orphans olah). Yields the signals received so far.

    The handler only records the signal. Raising from it, as Ctrl-C does, lands at an arbitrary
    point: inside the import of a C extension it leaves a broken module (matplotlib's ``_image``:
    "ImportError: initialization failed"), and the interpreter could abort while finalising.
    """
    received: list[int] = []

    def request_stop(signum, frame):
        received.append(signum)

    with handling(("SIGTERM",), request_stop):
        yield received


def run(args: argparse.Namespace) -> int:
    from zoo.demo import DemoOutputError, run_demo

    with sigterm_as_stop_request() as received:
        try:
            run_demo(args.output_dir, hubcards=args.hubcards, n_images=args.images, methods=args.methods,
                     serve=not args.no_serve, stop_requested=lambda: bool(received))
        except DemoOutputError as exc:
            raise UsageError(str(exc)) from None
    if received:  # it came during the last model: the run is complete, but it was asked to stop
        raise KeyboardInterrupt(f"signal {received[0]}")
    return EXIT_OK
