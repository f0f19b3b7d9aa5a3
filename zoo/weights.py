"""Loading safetensors weights into a freshly built model, strictly and without unpickling."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from zoo.errors import ZooError

PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar"}


class WeightsError(ZooError, ValueError):
    """A weights file cannot be used: wrong format, corrupt, or not matching the model."""


class WeightsMismatchWarning(UserWarning):
    """Layers were re-initialised because num_classes / in_chans differ from the weights."""


def load_file(path: str | Path) -> dict:
    """Read a safetensors file into a CPU state dict; never unpickles."""
    import safetensors.torch

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise WeightsError(
            f"{path}: {path.suffix} files are pickles, which the zoo never loads (unpickling runs "
            f"code). Convert it once with safetensors.torch.save_file(state_dict, 'model.safetensors')."
        )
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        return safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise WeightsError(f"{path}: not a readable safetensors file ({exc}). Delete it and fetch it again.") from exc


def build_with_weights(build: Callable[[], "object"], source: str | Path):
    """Build a model on the meta device (no random init), then assign the file's tensors.

    Loading is strict: missing, unexpected and mis-shaped keys are all reported together.
    """
    import torch

    state = load_file(source)
    with torch.device("meta"):
        model = build()
    expected = model.state_dict()
    _check_keys(expected, state, source)
    state = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        # Non-persistent buffers are not in any file: build for real and copy the weights in.
        model = build()
        model.load_state_dict(state, strict=True)
    return model


def _check_keys(expected: dict, state: dict, source: str | Path) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mis_shaped:
        lines = [f"{source}: weights do not match the model."]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise WeightsError("\n".join(lines))

