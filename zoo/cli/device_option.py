"""``--device``, for the commands that run a model (evaluate, predict, explain)."""

from __future__ import annotations

import argparse


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device to run the model on, e.g. cuda (default: cpu)")


def device_problem(name: str) -> str | None:
    """Why torch cannot run on device ``name`` here, or None when it can."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        return f"--device {name!r} is not a torch device ({exc}); try cpu or cuda"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {name}: torch {torch.__version__} sees no CUDA device on this machine; use --device cpu"
    if device.type == "meta":
        return "--device meta holds no data, so a model cannot run there; use cpu or cuda"
    try:  # mps, xpu, a cuda index past the last GPU...: one tiny allocation says whether it works
        torch.empty(1, device=device)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, AssertionError...
        why = str(exc).strip().split(". ")[0].splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"--device {name}: torch {torch.__version__} cannot use it on this machine ({why}); use --device cpu"
    return None
