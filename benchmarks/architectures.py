"""Parameter count and CPU throughput of every registered architecture, as a markdown table.

For each name in ``zoo.list_models()`` (every task present in the registry; ``timm/*`` names
only with ``--timm``), the model is built with ``zoo.create`` (random weights, eval mode) and fed
a batch of 8 random 128x128 images (instance segmentation: a list of 8 images, torchvision's
detection contract) under ``torch.inference_mode()``. After one untimed warm-up forward, each
forward is timed; images/s is the batch size over the median time. Slow models get fewer runs
(at least ``MIN_RUNS``) so the whole table stays within minutes.

Run it on its own with ``python -m benchmarks.architectures [--timm] [--quick] [--threads N]``,
or with the other benchmarks through ``python -m benchmarks --only architectures``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import median  # noqa: E402

BATCH = 8
SIZE = 128
MIN_RUNS = 3


def _inputs(task: str, in_chans: int):
    import torch

    x = torch.randn(BATCH, in_chans, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return list(x) if task == "instance_segmentation" else x


def _time_forward(model, images, runs: int, budget_s: float) -> list[float]:
    """One untimed warm-up forward, then up to ``runs`` timed ones (at least ``MIN_RUNS``, and
    no more once ``budget_s`` is spent)."""
    import torch

    with torch.inference_mode():
        model(images)
        times: list[float] = []
        while len(times) < runs and (len(times) < MIN_RUNS or sum(times) < budget_s):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return times


def benchmark(name: str, runs: int, budget_s: float) -> dict:
    import torch

    import zoo

    info = zoo.model_info(name)
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    in_chans = getattr(model, "in_chans", None) or info.defaults.get("in_chans", 3)
    params = sum(p.numel() for p in model.parameters())
    times = _time_forward(model, _inputs(info.task, in_chans), runs, budget_s)
    seconds = median(times)
    return {
        "architecture": name,
        "task": info.task,
        "params (M)": f"{params / 1e6:.2f}",
        "images/s": f"{BATCH / seconds:.1f}",
        "ms / batch of 8": f"{seconds * 1e3:.0f}",
        "runs": len(times),
    }


def run(quick: bool = False, include_timm: bool = False, pattern: str = "*") -> list[dict]:
    """One row per registered architecture (``benchmarks`` runner entry point)."""
    import zoo

    runs, budget_s = (MIN_RUNS, 2.0) if quick else (9, 15.0)
    names = zoo.list_models(pattern)
    if not include_timm:
        names = [n for n in names if not n.startswith("timm/")]
    order = {"classification": 0, "semantic_segmentation": 1, "instance_segmentation": 2}
    names.sort(key=lambda n: order.get(zoo.model_info(n).task, 3))  # stable: registry order within a task
    rows = []
    for name in names:
        try:
            rows.append(benchmark(name, runs, budget_s))
        except Exception as exc:  # noqa: BLE001 - e.g. a timm model with a fixed input size
            rows.append({"architecture": name, "notes": f"failed: {type(exc).__name__}: {exc}"[:160]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architectures",
                                     description="Parameters and CPU images/s of every registered architecture.")
    parser.add_argument("--timm", action="store_true", help="include the timm/* bridge names (there are many)")
    parser.add_argument("--pattern", default="*", help="fnmatch pattern of names to include (default: all)")
    parser.add_argument("--quick", action="store_true", help=f"{MIN_RUNS} timed runs each (CI smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)

    import torch

    from benchmarks.common import markdown_table

    torch.set_num_threads(args.threads)
    rows = run(quick=args.quick, include_timm=args.timm, pattern=args.pattern)
    print(f"CPU, {torch.get_num_threads()} thread(s), torch {torch.__version__}, batch {BATCH} "
          f"at {SIZE}x{SIZE}, torch.inference_mode(), median of the timed runs after one warm-up.\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
