"""Inference throughput of every registered architecture (``timm/*`` excluded), images/s.

Two ways to run the same randomly initialised model (eval mode) on the same batch:

- eager: the plain forward under ``torch.no_grad()``, what a user writes first;
- zoo: ``torch.inference_mode()`` with the model and the input in ``channels_last`` memory
  format, what the zoo recommends (see benchmarks/README.md: channels_last is where the gain
  is on CPU; inference_mode alone measured within noise of no_grad).

Inputs are 128x128 and 256x256 (``--quick``: 128 only), batch 1 and 8; instance segmentation
takes a list of images (torchvision's detection contract), so only its model is channels_last.
Each configuration gets one untimed warm-up forward per side, then as many alternated runs as
fit a small time budget (at least one). A configuration whose single eager forward exceeds
``MAX_FORWARD_S`` (6 s; 1 s with ``--quick``) is not timed further and is reported as skipped,
to keep the run short.
"""

from __future__ import annotations

import copy
import time

from benchmarks.common import alternate, median

MAX_FORWARD_S = {False: 6.0, True: 1.0}  # by quick


def _forward(model, images, mode):
    import torch

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
            for batch in (1, 8):
                x = _inputs(info.task, batch, in_chans, size, channels_last=False)
                x_cl = _inputs(info.task, batch, in_chans, size, channels_last=True)
                row = {"architecture": name, "task": info.task, "input": f"{size}x{size}", "batch": batch}
                started = time.perf_counter()
                out_eager = _forward(eager_model, x, torch.no_grad)  # warm-up, and the probe
                probe = time.perf_counter() - started
                if probe > MAX_FORWARD_S[quick]:
                    rows.append({**row, "notes": f"skipped: one forward takes {probe:.1f} s "
                                                 f"(> {MAX_FORWARD_S[quick]:g} s{' in --quick' if quick else ''})"})
                    continue
                out_fast = _forward(fast_model, x_cl, torch.inference_mode)
                runs = max(1, min(max_runs, int(budget_s / (2 * probe))))
                times = alternate({
                    "eager": lambda: _forward(eager_model, x, torch.no_grad),
                    "zoo": lambda: _forward(fast_model, x_cl, torch.inference_mode),
                }, runs=runs, warmup=0)
                eager_s, zoo_s = median(times["eager"]), median(times["zoo"])
                rows.append({**row,
                             "eager img/s": f"{batch / eager_s:.1f}",
                             "zoo img/s": f"{batch / zoo_s:.1f}",
                             "zoo/eager speed": f"{eager_s / zoo_s:.2f}x",
                             "runs": runs,
                             "notes": _agree(out_eager, out_fast)})
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.common import markdown_table

    print(markdown_table(run(quick="--quick" in sys.argv)))
