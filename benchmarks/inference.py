"""Inference throughput of every registered architecture (``timm/*`` excluded), images/s.

Ways to run the same randomly initialised model (eval mode) on the same batch:

- eager: the plain forward under ``torch.no_grad()``, what a user writes first;
- zoo: ``torch.inference_mode()`` with the model and the input in ``channels_last`` memory
  format, an opt-in the zoo does not enable by default (see benchmarks/README.md);
- without ``--quick``, a third side, ``torch.inference_mode()`` alone, shows which of the two
  changes the gain comes from (column "inference_mode only", speed over eager).

Inputs are 128x128 and 256x256 (``--quick``: 128 only), batch 1 and 8; instance segmentation
takes a list of images (torchvision's detection contract), so only its model is channels_last.
Each configuration gets one untimed warm-up forward per side, then as many alternated runs as
fit a small time budget (at least one). A configuration whose single eager forward exceeds
``MAX_FORWARD_S`` (6 s; 1 s with ``--quick``), measured or extrapolated from batch 1, is not
timed further and is reported as skipped, to keep the run short.
"""

from __future__ import annotations

import copy
import time

from benchmarks.common import alternate, median

MAX_FORWARD_S = {False: 6.0, True: 1.0}  # by quick


def _forward(model, images, mode):
    with mode():
        return model(images)


def _inputs(task: str, batch: int, in_chans: int, size: int, channels_last: bool):
    import torch

    x = torch.randn(batch, in_chans, size, size, generator=torch.Generator().manual_seed(0))
    if task == "instance_segmentation":
        return list(x)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _agree(a, b) -> str:
    import torch

    if not isinstance(a, torch.Tensor):
        return ""  # detections after NMS are not compared element-wise
    diff = (a.float() - b.float()).abs().max().item()
    scale = a.float().abs().max().item() or 1.0
    return "" if diff <= 1e-3 * scale + 1e-4 else f"outputs differ by {diff:.2g} (scale {scale:.2g})"


def run(quick: bool) -> list[dict]:
    import torch

    import zoo

    sizes = (128,) if quick else (128, 256)
    budget_s, max_runs = (0.6, 3) if quick else (2.5, 7)
    limit = MAX_FORWARD_S[quick]
    rows = []
    for name in zoo.list_models():
        if name.startswith("timm/"):
            continue
        info = zoo.model_info(name)
        in_chans = int(info.defaults.get("in_chans", 3) or 3)
        torch.manual_seed(0)
        eager_model = zoo.create(name).eval()
        fast_model = copy.deepcopy(eager_model).to(memory_format=torch.channels_last)
        for size in sizes:
            per_image = None  # eager seconds per image at batch 1, to skip hopeless batches unprobed
            for batch in (1, 8):
                row = {"architecture": name, "task": info.task, "input": f"{size}x{size}", "batch": batch}
                if per_image is not None and per_image * batch > limit:
                    rows.append({**row, "notes": f"skipped: one forward would take ~{per_image * batch:.1f} s "
                                                 f"(> {limit:g} s{' in --quick' if quick else ''})"})
                    continue
                x = _inputs(info.task, batch, in_chans, size, channels_last=False)
                x_cl = _inputs(info.task, batch, in_chans, size, channels_last=True)
                started = time.perf_counter()
                out_eager = _forward(eager_model, x, torch.no_grad)  # warm-up, and the probe
                probe = time.perf_counter() - started
                if probe > limit:
                    rows.append({**row, "notes": f"skipped: one forward takes {probe:.1f} s "
                                                 f"(> {limit:g} s{' in --quick' if quick else ''})"})
                    continue
                out_fast = _forward(fast_model, x_cl, torch.inference_mode)
                sides = {
                    "eager": lambda: _forward(eager_model, x, torch.no_grad),
                    "zoo": lambda: _forward(fast_model, x_cl, torch.inference_mode),
                }
                if not quick:  # which of the two changes helps: inference_mode alone
                    sides["inference_mode"] = lambda: _forward(eager_model, x, torch.inference_mode)
                runs = max(1, min(max_runs, int(budget_s / (len(sides) * probe))))
                times = alternate(sides, runs=runs, warmup=0)
                med = {k: median(v) for k, v in times.items()}
                if batch == 1:
                    per_image = med["eager"]
                rows.append({**row,
                             "eager img/s": f"{batch / med['eager']:.1f}",
                             "zoo img/s": f"{batch / med['zoo']:.1f}",
                             "zoo/eager speed": f"{med['eager'] / med['zoo']:.2f}x",
                             "inference_mode only": (f"{med['eager'] / med['inference_mode']:.2f}x"
                                                     if "inference_mode" in med else "-"),
                             "runs": runs,
                             "notes": _agree(out_eager, out_fast)})
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.common import markdown_table

    print(markdown_table(run(quick="--quick" in sys.argv)))
